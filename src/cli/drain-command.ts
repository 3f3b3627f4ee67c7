/**
 * `soar-edr drain`: deliver the Discord outbox and enrich the deferred-enrichment queue —
 * the follow-up work every alert run does at its end, without the small per-run limits.
 * An admin runs it after fixing the webhook or a key, after a quota reset, or from cron.
 */
import { Command } from 'commander';
import type { QueueEntry } from '../intel/enrichment-queue';
import type { QueueStore } from '../state/shared-state';
import { createIncidentPipeline, DrainAllReport, drainAll } from '../pipeline/incident-pipeline';
import { parseDuration } from '../pipeline/settings';
import { logSweep, sweepAfterFullDisk } from '../respond/full-disk-sweep';
import { parseAllowedHosts, parseWebhookTarget } from '../respond/webhook-target';
import { fail, ok, Result } from '../result';
import { ActionConfig, parseActionConfig } from '../splunk/action-config';
import { alertLogBase } from '../splunk/alert-run';
import { fieldMap } from '../splunk/field-map';
import type { AlertPayload } from '../splunk/payload';
import { processSpool, SpoolRunReport } from '../splunk/spool-run';
import { spoolStore } from '../store/spool';
import type { DataLayout } from '../store/data-dir';
import type { ResolvedSecrets, SplunkConnection } from '../splunk/secrets';
import type { SharedState } from '../state/shared-state';
import { cliPipelineDeps, isStateFailure, kvStateForConnection, splunkdLogin } from './kvstore-connection';
import {
  addConnectionOptions,
  CliIO,
  complain,
  connectionFrom,
  ConnectionOptions,
  connectionRequested,
  REST_EXIT,
  restExitCode,
  resolveCliSecrets,
  safeDataLayout,
  stderrLogger,
  UNSAFE_DATA_DIR_EXIT,
} from './runtime';

export const DRAIN_EXIT = { OK: 0, USAGE: 2, ...REST_EXIT, LEFT: 6, UNSAFE_DATA_DIR: UNSAFE_DATA_DIR_EXIT } as const;

/** The run's search id in every log line and in incidents' update messages. */
export const DRAIN_SID = 'cli__drain';
const DEFAULT_TIME_BUDGET = '4m';
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface DrainOptions extends ConnectionOptions {
  maxItems?: string;
  timeBudget?: string;
  param?: string[];
  retryWaiting?: boolean;
  maxSpoolRows?: string;
}

/** `--param key=value`, repeated, as the alert's params (later ones win). */
export function parseParamOptions(items: readonly string[]): Result<Record<string, string>, 'usage'> {
  // Param names are typed by a person: a map without a prototype (see splunk/field-map.ts).
  const params = fieldMap<string>();
  for (const item of items) {
    const at = item.indexOf('=');
    const key = at < 0 ? item : item.slice(0, at);
    if (at < 0 || !PARAM_NAME.test(key)) return fail('usage', `--param ${JSON.stringify(item)} is not key=value (a param name as in alert_actions.conf, e.g. vt_requests_per_minute=4)`);
    params[key] = item.slice(at + 1);
  }
  return ok(params);
}

/** `--max-items N`: a whole number ≥ 1; no limit when not given. */
export function parseMaxItems(text: string | undefined): Result<number, 'usage'> {
  if (text === undefined) return ok(Number.POSITIVE_INFINITY);
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1) return fail('usage', `--max-items must be a whole number of at least 1, not ${JSON.stringify(text)}`);
  return ok(Number(text));
}

/** What a person needs to see after a drain; every count is `key=value` so scripts can read it. */
export interface DrainSummary {
  readonly delivered: number;
  readonly enriched: number;
  readonly deadLettered: number;
  readonly outboxLeft: number;
  readonly queueLeft: number;
  readonly queueWaiting: number;
  /** Epoch ms when the first waiting address is due again. */
  readonly nextRetryMs: number | null;
  /** Queued addresses left because a provider they wait for has no key. */
  readonly waitingForKey: number;
}

export function summarizeDrain(report: DrainAllReport, outboxLeft: number, queue: readonly QueueEntry[], nowMs: number): DrainSummary {
  const waiting = queue.filter((e) => e.nextAttemptAt > nowMs);
  return {
    delivered: report.outbox.reduce((n, r) => n + r.delivered, 0),
    enriched: report.enriched,
    deadLettered: report.outbox.reduce((n, r) => n + r.deadLettered, 0),
    outboxLeft,
    queueLeft: queue.length,
    queueWaiting: waiting.length,
    nextRetryMs: waiting.length > 0 ? Math.min(...waiting.map((e) => e.nextAttemptAt)) : null,
    waitingForKey: report.waitingForKey,
  };
}

export function formatDrainSummary(s: DrainSummary): string {
  const next = s.nextRetryMs === null ? '' : ` next_retry=${new Date(s.nextRetryMs).toISOString()}`;
  const noKey = s.waitingForKey > 0 ? ` waiting_for_key=${s.waitingForKey}` : '';
  return `delivered=${s.delivered} enriched=${s.enriched} dead_lettered=${s.deadLettered} outbox_left=${s.outboxLeft} queue_left=${s.queueLeft} queue_waiting=${s.queueWaiting}${next}${noKey}`;
}

/**
 * Every queued address, waiting ones included: abandoned claims put back as of now first, then
 * the whole queue (`list(Infinity)` deems no live claim stale and moves nothing). [] when the
 * queue cannot be read (the drain logged why).
 */
async function wholeQueue(queue: QueueStore, nowMs: number): Promise<QueueEntry[]> {
  await queue.recoverStaleClaims(nowMs);
  const listed = await queue.list(Number.POSITIVE_INFINITY);
  return listed.ok ? listed.value : [];
}

/** A payload for the pipeline's context: drain handles no result row, so only the sid matters. */
function drainPayload(configuration: Readonly<Record<string, string>>): AlertPayload {
  return {
    app: 'soar_edr',
    owner: 'admin',
    resultsFile: '',
    resultsLink: '',
    searchUri: '',
    serverHost: '',
    serverUri: '',
    sessionKey: '',
    sid: DRAIN_SID,
    searchName: 'soar-edr drain',
    configuration,
    result: undefined,
    resultId: undefined,
  };
}

export function drainCommand(io: CliIO): Command {
  const cmd = new Command('drain')
    .description('deliver the Discord outbox and enrich the deferred-enrichment queue (sending update messages), without the per-run limits of an alert run')
    .option('--max-items <n>', 'deliver at most N notifications and enrich at most N addresses (default: no limit)')
    .option('--time-budget <duration>', `stop starting new work after this long, e.g. 90s, 4m (default ${DEFAULT_TIME_BUDGET}; param time_budget)`)
    .option('--param <key=value>', "an alert param, as in alert_actions.conf (repeatable), e.g. --param vt_requests_per_minute=2 (quota and block params may only lower the host's limits in soar_edr.conf)", (v: string, all: string[] | undefined) => [...(all ?? []), v])
    .option('--retry-waiting', 'also enrich queued addresses whose retry time has not come yet (after raising a quota limit in soar_edr.conf or fixing a key); the request quota still applies')
    .option('--max-spool-rows <n>', 'record at most N spooled rows (rows an alert run had no time left for); default: all that fit in the time budget');
  addConnectionOptions(cmd, io.env);
  cmd.addHelpText(
    'after',
    `
Secrets come from the SOAR_* environment variables, or from storage/passwords (realm soar_edr)
when a connection option (--host, --port, --user, --password) or SPLUNK_HOST / SPLUNK_PASSWORD
is given; storage/passwords wins where both have a value. With a connection the shared state
(incidents, blocks, intel cache, quota, the Discord outbox) is the KV store, what every cluster member sees;
without one, this host's data directory. Progress goes to stderr in the
alert action's log format; one summary line goes to stdout:
  delivered=N enriched=N dead_lettered=N outbox_left=N queue_left=N queue_waiting=N [next_retry=TIME] [waiting_for_key=N]
    [spool_recorded=N spool_left=N spool_entries=N spool_refused=N]
Notifications waiting in the outbox for their next attempt (the backoff after a failed
delivery) are tried now: the backoff paces the alert runs' automatic retries, not this command.
Spooled rows (a digest an alert run had no time left for) are recorded first, with the
alert's own sid and rids, so a row recorded before is not recorded again.
Addresses recorded without a VirusTotal key wait in the queue (waiting_for_key) and cost
nothing until the key is configured; then drain enriches them and updates their incidents.

Exit codes:
  0  everything due was delivered or enriched (addresses waiting for their retry time may remain);
     the outbox is empty: a drain tries every waiting notification now, backoff or not
  2  usage: a bad option or param value, a secret given as a param, no Splunk password,
     a --ca-file that cannot be read or holds no certificate
  3  splunkd refused the credentials or the permission (storage/passwords)
  4  splunkd unreachable, or its TLS certificate not trusted (nothing was sent)
  5  other splunkd REST failure
  6  something due is left or failed (outbox not delivered, retry later, dead-lettered — each
     notification left is named in a "Left in the outbox" line on stderr,
     address not enriched, address waiting for a key, spooled rows left, a spool entry
     refused): the same meaning as the alert action's exit code 6
  7  the data directory is unsafe (writable by others, another owner, a link): nothing done`,
  );
  cmd.action(async (opts: DrainOptions) => {
    const usage = (message: string): void => {
      complain(io, message);
      io.setExitCode(DRAIN_EXIT.USAGE);
    };
    const params = parseParamOptions(opts.param ?? []);
    if (!params.ok) return usage(params.error.message);
    const maxItems = parseMaxItems(opts.maxItems);
    if (!maxItems.ok) return usage(maxItems.error.message);
    const maxSpoolRows = parseMaxItems(opts.maxSpoolRows);
    if (!maxSpoolRows.ok) return usage(maxSpoolRows.error.message.replace('--max-items', '--max-spool-rows'));
    const budget = parseDuration(opts.timeBudget ?? params.value.time_budget ?? DEFAULT_TIME_BUDGET);
    if (!budget.ok) return usage(`--time-budget: ${budget.error.message}`);
    const { config, problems } = parseActionConfig({ ...params.value, time_budget: `${budget.value}s` });
    if (problems.length > 0) return usage(problems.map((p) => p.message).join('\n'));
    // Before anything is read from splunkd or written: the data directory must be ours alone.
    const data = safeDataLayout(io);
    if (data === undefined) return;

    let connection: SplunkConnection | undefined;
    if (connectionRequested(cmd, io.env)) {
      const conn = await connectionFrom(opts, io);
      if (typeof conn === 'string') return usage(conn);
      // One login: its session key reads storage/passwords and opens the KV store.
      const key = await splunkdLogin(conn);
      if (!key.ok) {
        complain(io, key.error.message);
        return io.setExitCode(restExitCode(key.error.kind));
      }
      connection = { ...conn, sessionKey: key.value };
    }
    const secrets = await resolveCliSecrets(connection, io.env);
    if (!secrets.ok) {
      complain(io, secrets.error.message);
      return io.setExitCode(restExitCode(secrets.error.kind));
    }

    const { layout } = data;
    // With a connection the shared state (blocks, incidents, intel cache, quota) is the KV
    // store every cluster member sees; without one, this host's data directory (the pipeline's default).
    let shared: SharedState | undefined;
    if (connection !== undefined) {
      const opened = await kvStateForConnection(connection, layout);
      if (isStateFailure(opened)) {
        complain(io, opened.message);
        return io.setExitCode(opened.exitCode);
      }
      shared = opened.state;
    }
    try {
      await drainWith(io, opts, { layout, config, budgetSeconds: budget.value, maxItems: maxItems.value, maxSpoolRows: maxSpoolRows.value, secrets: secrets.value, shared }, usage);
    } finally {
      shared?.close();
    }
  });
  return cmd;
}

interface DrainRun {
  readonly layout: DataLayout;
  readonly config: ActionConfig;
  readonly budgetSeconds: number;
  readonly maxItems: number;
  readonly maxSpoolRows: number;
  readonly secrets: ResolvedSecrets;
  /** The KV store's state with a connection; undefined: the data directory. */
  readonly shared: SharedState | undefined;
}

async function drainWith(io: CliIO, opts: DrainOptions, run: DrainRun, usage: (message: string) => void): Promise<void> {
  const { layout, config } = run;
  const deps = cliPipelineDeps(layout, io.env, run.shared);
  const startedMs = Date.now();
  const log = stderrLogger(io, { action_name: 'soar-edr drain', sid: DRAIN_SID }, config.logLevel);
  for (const value of Object.values(run.secrets.values)) log.redact(value);
  const pipeline = createIncidentPipeline(
    { payload: drainPayload(config.params), config, mode: 'digest', log, secrets: () => Promise.resolve(run.secrets), startedMs },
    deps,
  );
  if (pipeline.configProblems.length > 0) return usage(pipeline.configProblems.map((p) => p.message).join('\n'));

  const queue = pipeline.state.queue;
  if (opts.retryWaiting) {
    // Queued again, due now: the queue's merge keeps each incident once and takes the earlier due time.
    for (const entry of await wholeQueue(queue, startedMs)) {
      if (entry.nextAttemptAt > startedMs && entry.refs[0] !== undefined) {
        await queue.enqueue(entry.address, entry.refs[0], startedMs, startedMs);
        log.info('Waiting address made due now', { src_ip: entry.address, was_due: new Date(entry.nextAttemptAt).toISOString(), last_error: entry.lastError });
      }
    }
  }
  const listed = await queue.list(startedMs);
  if (!listed.ok) log.error('Enrichment queue not readable', { reason: listed.error.kind, message: listed.error.message });
  const dueBefore = listed.ok ? listed.value.length : 0;
  // The outbox of the shared state: with a connection, what every member queued in the KV store.
  const outbox = pipeline.state.outbox;
  const sizeBefore = await outbox.size();
  if (!sizeBefore.ok) log.error('Outbox cannot be read', { reason: sizeBefore.error.kind, message: sizeBefore.error.message });
  const outboxBefore = sizeBefore.ok ? sizeBefore.value : 0;
  const keys = run.secrets.values;
  log.info('Draining the outbox and the enrichment queue', {
    outbox: outboxBefore,
    queue_due: dueBefore,
    max_items: Number.isFinite(run.maxItems) ? run.maxItems : 'unlimited',
    time_budget_s: run.budgetSeconds,
    secrets: Object.entries(run.secrets.origin).map(([name, origin]) => `${name}:${origin}`).join(',') || 'none',
  });

  // Spooled rows first: the incidents they record join the outbox and queue drained below.
  const spooled = await processSpool({
    store: spoolStore(layout),
    createPipeline: (context) => createIncidentPipeline(context, deps),
    secrets: () => Promise.resolve(run.secrets),
    log,
    logFor: (c) => {
      const l = stderrLogger(io, { ...alertLogBase(c, c.mode), spool: 1 }, parseActionConfig(c.configuration).config.logLevel);
      for (const value of Object.values(run.secrets.values)) l.redact(value);
      return l;
    },
    now: Date.now,
    startedMs,
    deadlineMs: startedMs + run.budgetSeconds * 1000,
    maxRows: run.maxSpoolRows,
  });

  // Addresses waiting for a key that is still missing are left as they are (nothing spent);
  // reportQueueProblems says so once, with what to configure.
  // A drain run by hand means now: notifications waiting for their backoff are tried too
  // (backoff paces the alert runs' automatic retries, not an admin's command).
  const report = await drainAll(pipeline, log, { maxItems: run.maxItems, includeWaiting: true });
  logSweep(sweepAfterFullDisk(layout, Date.now(), { force: true }), layout, log);
  pipeline.reportQueueProblems(log);

  let left = false;
  if (outboxBefore > 0 && report.outbox.length === 0) {
    left = true;
    const url = keys.discord_webhook_url;
    const target = url ? parseWebhookTarget(url, parseAllowedHosts(io.env.SOAR_WEBHOOK_ALLOWED_HOSTS)) : undefined;
    log.warn('Outbox not delivered', {
      outbox: outboxBefore,
      message: !url
        ? 'no Discord webhook configured: set SOAR_DISCORD_WEBHOOK_URL or store discord_webhook_url (soar-edr secrets set discord_webhook_url)'
        : target && !target.ok
          ? target.error.message
          : 'the outbox could not be read (see the error above)',
    });
  }
  for (const r of report.outbox) {
    if (r.retryLater + r.deadLettered + r.leftForLater > 0 || r.stoppedBecause !== null) left = true;
  }
  if (report.enriched < dueBefore) left = true;
  const spoolLeft = spoolRowsLeft(spooled, layout);
  if (spoolLeft.rows > 0 || spoolLeft.entries > 0 || spooled.refused > 0 || spooled.tally.failed + spooled.tally.rejected > 0) left = true;

  // Name what could not be delivered, so "outbox_left=N" is never a bare number.
  const waitingNow = await outbox.waiting(Date.now());
  if (!waitingNow.ok) {
    left = true;
    log.error('Outbox cannot be read', { reason: waitingNow.error.kind, message: waitingNow.error.message });
  }
  const stillWaiting = waitingNow.ok ? waitingNow.value : [];
  if (stillWaiting.length > 0) left = true;
  for (const w of stillWaiting) {
    log.warn('Left in the outbox', {
      notification: w.key,
      attempts: w.attempts,
      ...(w.claimed ? { message: 'being sent by another process right now' } : {}),
      ...(w.lastError !== null ? { last_error: w.lastError } : {}),
      ...(w.nextAttemptAtMs !== null ? { next_automatic_retry: new Date(w.nextAttemptAtMs).toISOString() } : {}),
    });
  }

  const nowMs = Date.now();
  const sizeAfter = await outbox.size();
  const summary = summarizeDrain(report, sizeAfter.ok ? sizeAfter.value : stillWaiting.length, await wholeQueue(queue, nowMs), nowMs);
  const exitCode = left ? DRAIN_EXIT.LEFT : DRAIN_EXIT.OK;
  log.info('Drain finished', {
    action_status: exitCode === DRAIN_EXIT.OK ? 'success' : 'failure',
    duration: nowMs - startedMs,
    delivered: summary.delivered,
    enriched: summary.enriched,
    dead_lettered: summary.deadLettered,
    outbox_left: summary.outboxLeft,
    queue_left: summary.queueLeft,
    queue_waiting: summary.queueWaiting,
    spool_recorded: spooled.tally.rows,
    spool_left: spoolLeft.rows,
    exit_code: exitCode,
  });
  log.flush();
  const spoolPart = spooled.entries + spooled.refused + spoolLeft.entries > 0
    ? ` spool_recorded=${spooled.tally.rows} spool_left=${spoolLeft.rows} spool_entries=${spoolLeft.entries} spool_refused=${spooled.refused}`
    : '';
  io.stdout.write(formatDrainSummary(summary) + spoolPart + '\n');
  io.setExitCode(exitCode);
}

/** Rows left in the entries this drain put back, and the entries waiting in the spool (put back or not reached). */
function spoolRowsLeft(report: SpoolRunReport, layout: DataLayout): { rows: number; entries: number } {
  return { rows: report.rowsLeft, entries: spoolStore(layout).waiting() };
}
