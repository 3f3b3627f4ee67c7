/**
 * The block stage: whether the verdict calls for a simulated block of the address, and the
 * block itself in the shared blocklist (where every member sees it, with its repeat-offender
 * escalation), written as a `blocked` incident event once per address per run.
 */
import type { IpAddress } from '../address/ip-address';
import type { Verdict } from '../intel/verdict';
import type { Incident, ResponseAction } from '../respond/incident';
import type { Logger } from '../splunk/log';
import type { PipelineRun } from './run';
import { eventSubject } from './record';

/**
 * `sid`: the firing the block is for; the rows of one firing are one offence (blocklist.ts).
 * `why`: why a non-public address is not public (for the not-blocked reason).
 */
export async function blockStage(run: PipelineRun, address: IpAddress, isPublic: boolean, why: string | undefined, verdict: Verdict, reason: string, nowMs: number, sid: string, log: Logger): Promise<ResponseAction> {
  const s = run.settings;
  if (!s.blockVerdicts.has(verdict)) {
    return { kind: 'not_blocked', reason: `verdict ${verdict} is not in block_verdicts (${[...s.blockVerdicts].join(', ') || 'none'})` };
  }
  if (!isPublic && !s.blockPrivate) {
    return { kind: 'not_blocked', reason: `${why ?? 'not public'}: never blocked (block_private = false)` };
  }
  // One block per address per run: a digest naming an address in many rows is one offence.
  const already = run.blockedThisRun.get(address.text);
  if (already) return already;
  const limits = run.limited();
  const r = await run.state.blocklist.block(address, verdict, reason, nowMs, { baseSeconds: limits.blockSeconds, maxSeconds: limits.blockMaxSeconds }, sid);
  if (!r.ok) {
    log.error('Simulated block failed', { src_ip: address.text, reason: r.error.kind, message: r.error.message });
    return { kind: 'not_blocked', reason: `block failed: ${r.error.message}` };
  }
  const expires = new Date(r.value.entry.expiresMs).toISOString();
  const action: ResponseAction = {
    kind: 'blocked',
    reason: `${verdict}: simulated block for ${r.value.durationSeconds} s${r.value.repeat ? ` (repeat offender, block #${r.value.entry.count})` : ''}`,
    expires,
    commands: r.value.commands,
  };
  run.blockedThisRun.set(address.text, action);
  log.warn(`[SIMULATION] Blocking IP ${address.text}`, {
    src_ip: address.text,
    verdict,
    duration_s: r.value.durationSeconds,
    expires,
    count: r.value.entry.count,
    repeat_offender: r.value.repeat ? 'yes' : 'no',
    message: 'simulation only: no firewall command is run',
  });
  return action;
}

/** A `blocked` event for a block this incident made, once per address per run (a digest repeats addresses). */
export function blockEvent(run: PipelineRun, incident: Incident): void {
  if (incident.action.kind !== 'blocked' || run.blockEvented.has(incident.srcIp)) return;
  run.blockEvented.add(incident.srcIp);
  run.events.add({
    timeMs: run.deps.now(),
    event: 'blocked',
    subject: eventSubject(incident),
    details: { action: 'blocked', actionReason: incident.action.reason, blockExpires: incident.action.expires },
  });
}
