/**
 * A maintenance run of the alert action (param mode = maintenance): the app's scheduled
 * search "SOAR-EDR - Maintenance" runs `| makeresults | sendalert soar_response
 * param.mode="maintenance"` every minute, once per search head cluster (a scripted input
 * would run on every member). Its result row is not an incident: the run replays spooled
 * rows, then does the follow-up work every alert run does at its end, with larger limits —
 * the outbox (honouring each notification's backoff), the due enrichment queue, expired
 * blocks, the full-disk sweep — so a card waiting for Discord goes out within a minute of
 * Discord's recovery even when no new alert comes.
 *
 * One maintenance run at a time: a lease (state/maintenance-lease.ts). The second run says
 * so in one INFO line and exits 0. A run with nothing to do writes one INFO line, the
 * closing one every run writes, marked mode=maintenance.
 */
import type { LeaseStore } from '../state/shared-state';
import type { ActionConfig } from './action-config';
import { AlertRunIO, PipelineFactory, recordSpooled, RunContext, RunSummary } from './alert-run';
import { EXIT, ExitCode, worseExit } from './exit-codes';
import type { Logger } from './log';
import type { AlertPayload } from './payload';
import type { ResolvedSecrets } from './secrets';

/** What the follow-up work did, and what it left. */
export interface MaintenanceReport {
  /** Counts for the closing line (e.g. delivered, enriched, expired_blocks); zeros are left out. */
  readonly done: Readonly<Record<string, number>>;
  /** Work tried and not finished: a delivery to retry, due notifications the limits or time left. */
  readonly left: number;
  /** Failures the work found (as an alert run's late failures). */
  readonly failed: number;
}

/** One maintenance run's work and where its lease is kept: one shared state for both (the KV store inside Splunk: one lease per cluster). */
export interface MaintenanceWork {
  readonly leases: LeaseStore;
  /** The follow-up work, with maintenance limits (pipeline/maintenance.ts). */
  maintain(): Promise<MaintenanceReport>;
}

export interface MaintenanceSetup {
  readonly open: (context: RunContext) => MaintenanceWork;
}

/** The lease's name in the shared state. */
export const MAINTENANCE_LEASE = 'maintenance';

/**
 * A maintenance run stops starting new work after this long, so it ends inside its minute:
 * the scheduler skips a run whose previous one still runs (max_concurrent = 1), and a skipped
 * search is reported as such in Splunk's health views.
 */
export const MAINTENANCE_BUDGET_MS = 45_000;
/**
 * A lease older than this is abandoned. Longer than the action's maxtime (5m): splunkd kills a
 * run by then, and a killed holder's lease is taken over at once anyway (its process is gone).
 */
export const MAINTENANCE_LEASE_TTL_MS = 6 * 60_000;

export interface MaintenanceRunInput {
  readonly io: AlertRunIO;
  readonly payload: AlertPayload;
  readonly config: ActionConfig;
  readonly log: Logger;
  readonly secrets: () => Promise<ResolvedSecrets>;
  readonly startedMs: number;
  /** The code the configuration problems already set. */
  readonly exitCode: ExitCode;
  /** For the spooled rows (the alert's own pipeline). */
  readonly createPipeline: PipelineFactory;
}

const NOTHING: Omit<RunSummary, 'exitCode'> = { rows: 0, handedOff: 0, rejected: 0, failed: 0, degraded: 0, spooled: 0 };

export async function runMaintenance(input: MaintenanceRunInput): Promise<RunSummary> {
  const { io, log, startedMs } = input;
  const now = (): number => io.now().getTime();
  const setup = io.maintenance;
  let exitCode = input.exitCode;
  if (setup === undefined) {
    // Only an entry point built without maintenance support gets here (not the shipped one).
    log.error('Maintenance mode is not available here', { mode: 'maintenance', message: 'this entry point runs alerts only' });
    log.flush();
    return { ...NOTHING, exitCode: worseExit(exitCode, EXIT.BAD_PAYLOAD) };
  }
  const holder = input.payload.sid || `pid-${process.pid}`;
  const deadlineMs = startedMs + MAINTENANCE_BUDGET_MS;
  const context: RunContext = { payload: input.payload, config: input.config, mode: 'digest', log, secrets: input.secrets, startedMs, deadlineMs };
  const opened = setup.open(context);
  const leases = opened.leases;
  const taken = await leases.tryAcquire(MAINTENANCE_LEASE, holder, startedMs, MAINTENANCE_LEASE_TTL_MS);
  if (!taken.ok) {
    log.error('Cannot take the maintenance lease; nothing done', { reason: taken.error.kind, mode: 'maintenance', message: taken.error.message });
    log.flush();
    return { ...NOTHING, exitCode: worseExit(exitCode, EXIT.DEGRADED) };
  }
  const lease = taken.value;
  if (lease === undefined) {
    log.info('Maintenance already running elsewhere; nothing done', { mode: 'maintenance', duration: now() - startedMs, exit_code: exitCode });
    log.flush();
    return { ...NOTHING, exitCode };
  }

  const done: Record<string, number> = {};
  let spool: Awaited<ReturnType<typeof recordSpooled>>;
  let work: MaintenanceReport | undefined;
  try {
    // Spooled rows first: the incidents they record join the outbox and queue worked below.
    spool = io.spool === undefined ? undefined : await recordSpooled(io.spool, io, input.createPipeline, input.secrets, log, startedMs, deadlineMs, { serverUri: input.payload.serverUri, sessionKey: input.payload.sessionKey });
    try {
      work = await opened.maintain();
    } catch (e) {
      log.error('Maintenance work failed', { reason: 'internal', mode: 'maintenance', message: (e as Error).stack ?? String(e) });
      exitCode = worseExit(exitCode, EXIT.INTERNAL);
    }
  } finally {
    const released = await leases.release(lease);
    if (!released.ok) log.warn('Cannot release the maintenance lease', { reason: released.error.kind, message: released.error.message, ttl_s: MAINTENANCE_LEASE_TTL_MS / 1000 });
  }

  const tally = spool?.tally;
  const failed = (tally?.failed ?? 0) + (work?.failed ?? 0);
  const rejected = tally?.rejected ?? 0;
  if (failed + rejected + (spool?.refused ?? 0) > 0) exitCode = worseExit(exitCode, EXIT.PARTIAL);
  const degraded = (tally?.degraded ?? 0) + (spool !== undefined && spool.rowsLeft > 0 ? 1 : 0) + (work !== undefined && work.left > 0 ? 1 : 0);
  if (degraded > 0) exitCode = worseExit(exitCode, EXIT.DEGRADED);
  if (tally !== undefined && tally.rows > 0) done.spool_recorded = tally.rows;
  if (spool !== undefined && spool.rowsLeft > 0) done.spool_left = spool.rowsLeft;
  for (const [k, v] of Object.entries(work?.done ?? {})) if (v > 0) done[k] = v;
  if (work !== undefined && work.left > 0) done.left = work.left;

  log.info('Modular action script duration', {
    mode: 'maintenance',
    action_status: exitCode === EXIT.OK ? 'success' : 'failure',
    duration: now() - startedMs,
    ...done,
    failed: failed || undefined,
    exit_code: exitCode,
    max_rss_kb: io.maxRssKb(),
    process_ms: io.uptimeMs ? Math.round(io.uptimeMs()) : undefined,
  });
  log.flush();
  return { ...NOTHING, exitCode, rows: tally?.rows ?? 0, handedOff: tally?.handedOff ?? 0, rejected, failed, degraded };
}
