/**
 * The notify stage: one Discord card per incident — unless the address was announced within
 * the re-notification window with a verdict no better (the shared ledger decides, so of many
 * runs on many members exactly one announces) — delivered now or kept in the outbox, with the
 * card's message id recorded on the incident for later edits.
 */
import * as path from 'node:path';
import type { IpAddress } from '../address/ip-address';
import { verdictRank } from '../intel/verdict';
import type { DiscordMessage } from '../respond/discord-embed';
import { webhookDeliverer } from '../respond/discord-delivery';
import type { Incident } from '../respond/incident';
import type { Logger } from '../splunk/log';
import type { ResolvedSecrets } from '../splunk/secrets';
import { eventSubject } from './record';
import type { PipelineRun } from './run';

/** Send one notification; returns a degradation note when it could not be delivered now. */
export async function notifyStage(
  run: PipelineRun,
  incident: Incident,
  address: IpAddress,
  kind: 'incident' | 'update',
  message: DiscordMessage | (() => DiscordMessage),
  secrets: ResolvedSecrets,
  log: Logger,
): Promise<string | undefined> {
  const d = run.deps;
  if (kind === 'incident') {
    const earlier = run.claimedThisRun.get(address.text);
    if (earlier !== undefined && verdictRank(incident.verdict) <= verdictRank(earlier)) {
      log.info('Not notified again', { src_ip: address.text, verdict: incident.verdict, message: 'already notified in this run and the verdict is not worse' });
      return undefined;
    }
    run.claimedThisRun.set(address.text, incident.verdict);
    // A window of 0 announces every incident: the ledger has nothing to decide (and no round trip is spent on it).
    if (run.settings.renotifySeconds > 0) {
      const claim = await run.state.notifications.claim(address, incident.verdict, d.now(), run.settings.renotifySeconds, incident.incidentId);
      if (!claim.ok) {
        log.error('Notification ledger failed', { reason: claim.error.kind, message: claim.error.message });
      } else if (!claim.value.notify) {
        log.info('Not notified again', { src_ip: address.text, verdict: incident.verdict, message: claim.value.reason });
        return undefined;
      }
    }
  }
  const notification = { incidentId: incident.incidentId, kind, payload: typeof message === 'function' ? message() : message };
  const started = d.now();
  const webhook = run.webhookTarget(secrets);
  if (!webhook.target) {
    const q = await run.state.outbox.enqueue(notification, d.now());
    if (webhook.problem) {
      log.error('Discord webhook URL refused; notification kept in the outbox', { message: webhook.problem, outbox: q.ok ? q.value : q.error.message });
      return 'discord: webhook refused';
    }
    log.info('No Discord webhook configured; notification kept in the outbox', { outbox: q.ok ? q.value : q.error.message, message: 'soar-edr secrets set discord_webhook_url, then soar-edr drain' });
    return q.ok ? undefined : `outbox: ${q.error.kind}`;
  }
  const deliver = webhookDeliverer(webhook.target, d.webhookPost, { now: d.now, sleep: d.sleep, random: d.random, requestTimeoutMs: run.settings.requestTimeoutMs });
  const sent = await run.state.outbox.send(notification, deliver, { now: d.now, deadlineMs: run.deadlineMs, random: d.random });
  if (!sent.ok) {
    log.error('Notification could not be queued', { reason: sent.error.kind, message: sent.error.message });
    return `outbox: ${sent.error.kind}`;
  }
  const r = sent.value;
  switch (r.status) {
    case 'delivered': {
      const messageId = r.delivery.status === 'delivered' ? r.delivery.messageId : null;
      run.events.add({ timeMs: d.now(), event: 'notified', subject: eventSubject(incident), details: { notificationKind: kind, discordMessageId: messageId } });
      log.info('Discord notification delivered', { kind, ms: d.now() - started, message_id: messageId ?? '', attempts: r.delivery.attempts });
      await noteNotified(run, incident, messageId, log);
      return undefined;
    }
    case 'already_delivered':
    case 'in_flight':
    case 'claimed_elsewhere':
      log.info('Discord notification already handled by another process', { kind, status: r.status });
      return undefined;
    case 'queued':
      log.warn('Discord notification kept in the outbox', { kind, message: r.reason });
      return 'discord: queued';
    case 'retry_later':
      log.warn('Discord notification kept in the outbox', { kind, message: 'reason' in r.delivery ? r.delivery.reason : r.delivery.status, next_attempt: new Date(r.nextAttemptAtMs).toISOString() });
      return 'discord: kept in the outbox';
    case 'dead_lettered':
      run.events.add({
        timeMs: d.now(),
        event: 'dead_lettered',
        subject: eventSubject(incident),
        details: { notificationKind: kind, deadLetterReason: r.delivery && 'reason' in r.delivery ? r.delivery.reason : '', deadLetterFile: path.basename(r.deadLetter) },
      });
      log.error('Discord refused the notification; kept as a dead letter', { kind, file: r.deadLetter, message: r.delivery && 'reason' in r.delivery ? r.delivery.reason : '' });
      return 'discord: rejected';
  }
}

/** The incident's shared record learns its card (what later edits of the card need). */
async function noteNotified(run: PipelineRun, incident: Incident, messageId: string | null, log: Logger): Promise<void> {
  if (run.state.kind === 'file') return;
  const noted = await run.state.incidents.changed(incident, { status: 'notified', discordMessageId: messageId }, run.deps.now());
  if (!noted.ok) log.warn('Cannot record the Discord message on the incident', { reason: noted.error.kind, message: noted.error.message });
}
