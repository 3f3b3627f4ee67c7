/**
 * Records the rows a run spooled (see store/spool.ts), through the same pipeline and row
 * handling as the alert itself, with the original sid and rids: rows recorded before are
 * skipped by the sid + rid ledger, so each row is recorded exactly once. Used at the end of
 * an alert run (a bounded number of rows, within that run's budget and with its own
 * secrets) and by `soar-edr drain` (everything, or up to a limit).
 */
import type { ClaimOutcome, SpoolClaim, SpoolContext, SpoolStore } from '../store/spool';
import { parseActionConfig } from './action-config';
import type { PipelineFactory, RowPipeline } from './alert-run';
import type { Logger } from './log';
import type { AlertPayload } from './payload';
import { closeResultsFile, openResultsFile, readResults, ResultRow, RowAnswer } from './results-file';
import { handleOneRow, logMalformed, RowTally, stopMarginMs } from './row-loop';
import type { ResolvedSecrets } from './secrets';

/** A long processor refreshes its claim (and records what it batched) this often. */
const CHECKPOINT_MS = 60_000;

export interface SpoolRunOptions {
  readonly store: SpoolStore;
  readonly createPipeline: PipelineFactory;
  /** The processing run's own secrets (inside Splunk: from its own session key). */
  readonly secrets: () => Promise<ResolvedSecrets>;
  /** The processor's log. */
  readonly log: Logger;
  /** A log whose lines carry the spooled alert's sid, search name, app and owner. */
  readonly logFor: (context: SpoolContext) => Logger;
  readonly now: () => number;
  readonly startedMs: number;
  /** Stop handling rows before this (less a margin for recording what is batched). */
  readonly deadlineMs: number;
  /** At most this many rows in this call. */
  readonly maxRows: number;
  /**
   * The splunkd of the run doing the work (its server_uri and session key), where the spooled
   * rows' shared state lives: credentials are never spooled, and a spooled alert's own session
   * key may have expired since.
   */
  readonly splunkd?: { readonly serverUri: string; readonly sessionKey: string };
}

export interface SpoolRunReport {
  /** Entries worked on (completed or put back). */
  readonly entries: number;
  readonly completed: number;
  /** Entries refused (MAC, unreadable copy): dead-lettered. */
  readonly refused: number;
  /** Rows handled, rejected, failed, degraded. */
  readonly tally: RowTally;
  /** Rows still spooled after this call (in entries it saw). */
  readonly rowsLeft: number;
}

/** The payload the spooled rows' pipeline sees: the alert's context, the spool copy, and the working run's splunkd (never spooled). */
export function spoolPayload(context: SpoolContext, resultsFile: string, splunkd?: { readonly serverUri: string; readonly sessionKey: string }): AlertPayload {
  return {
    app: context.app,
    owner: context.owner,
    resultsFile,
    resultsLink: context.resultsLink,
    searchUri: '',
    serverHost: '',
    serverUri: splunkd?.serverUri ?? '',
    sessionKey: splunkd?.sessionKey ?? '',
    sid: context.sid,
    searchName: context.searchName,
    configuration: context.configuration,
    result: undefined,
    resultId: undefined,
  };
}

export async function processSpool(o: SpoolRunOptions): Promise<SpoolRunReport> {
  const tally = new RowTally();
  let entries = 0;
  let completed = 0;
  let refused = 0;
  let rowsLeft = 0;
  o.store.recoverStale();
  const budgetMs = Math.max(1, o.deadlineMs - o.startedMs);
  for (;;) {
    if (tally.rows >= o.maxRows || o.deadlineMs - o.now() < stopMarginMs(budgetMs, 0)) break;
    let next: ClaimOutcome | undefined;
    try {
      next = o.store.claimNext();
    } catch (e) {
      o.log.error('Cannot read the spool', { reason: 'io_error', message: (e as Error).message });
      break;
    }
    if (next === undefined) break;
    if (next.status === 'refused') {
      refused += 1;
      o.log.error('Spool entry refused; not processed', { reason: 'spool_entry', entry: next.name, message: next.reason, dead_letter: next.deadLetter });
      continue;
    }
    entries += 1;
    let r: Awaited<ReturnType<typeof processEntry>>;
    try {
      r = await processEntry(o, next.claim, tally);
    } catch (e) {
      // The claim stays; the next processor takes it back once this process is gone.
      o.log.error('Spool processing failed', { reason: 'io_error', entry: next.claim.entry.id, message: (e as Error).message });
      break;
    }
    if (r === 'refused') refused += 1;
    else if (r === 'completed') completed += 1;
    else rowsLeft += r.left;
  }
  return { entries, completed, refused, tally, rowsLeft };
}

async function processEntry(o: SpoolRunOptions, claim: SpoolClaim, tally: RowTally): Promise<'completed' | 'refused' | { left: number }> {
  const { entry } = claim;
  const log = o.logFor(entry);
  const secrets = await o.secrets();
  for (const v of Object.values(secrets.values)) log.redact(v);
  if (o.splunkd?.sessionKey) log.redact(o.splunkd.sessionKey);
  const { config } = parseActionConfig(entry.configuration);
  const pipeline: RowPipeline = o.createPipeline({
    payload: spoolPayload(entry, claim.copyFile, o.splunkd),
    config,
    mode: entry.mode,
    log,
    secrets: o.secrets,
    startedMs: o.startedMs,
    deadlineMs: o.deadlineMs,
  });
  const layout = { mode: entry.mode, baseRid: entry.baseRid ?? undefined };
  const opened = openResultsFile(claim.copyFile);
  if (!opened.ok) {
    const letter = o.store.abandon(claim, `spool copy unreadable: ${opened.error.message}`);
    log.error('Spooled rows cannot be read; entry kept as a dead letter', { reason: opened.error.kind, message: opened.error.message, dead_letter: letter });
    return 'refused';
  }
  const margin = stopMarginMs(Math.max(1, o.deadlineMs - o.startedMs), 0);
  const before = tally.rows;
  let lastCheckpoint = o.now();
  log.info('Recording spooled rows', { spool_entry: entry.id, resume_index: entry.resumeIndex, rows_left: entry.indexes - entry.resumeIndex });
  try {
    const onRow = async (row: ResultRow): Promise<RowAnswer> => {
      const now = o.now();
      if (tally.rows >= o.maxRows || o.deadlineMs - now < margin) return 'stop';
      if (now - lastCheckpoint >= CHECKPOINT_MS) {
        tally.addLate(await pipeline.flush?.(log));
        o.store.checkpoint(claim, row.index);
        lastCheckpoint = now;
      }
      const result = await handleOneRow(row, config, pipeline, log.child({ rid: row.rid }));
      // The KV store is still unavailable: the entry waits for a later run, from this row on.
      if (typeof result === 'object') return 'stop';
      tally.add(result);
    };
    const read = await readResults(opened.value, layout, onRow, {
      fromIndex: entry.resumeIndex,
      onMalformed: (m) => {
        tally.rejected += 1;
        tally.rows += 1;
        logMalformed(log, m);
      },
    });
    tally.addLate(await pipeline.flush?.(log));
    if (!read.ok) {
      const letter = o.store.abandon(claim, `spool copy: ${read.error.message}`);
      log.error('Spooled rows cannot be read; entry kept as a dead letter', { reason: read.error.kind, message: read.error.message, dead_letter: letter });
      return 'refused';
    }
    const stoppedAt = read.value.stoppedAt;
    if (stoppedAt !== undefined) {
      o.store.release(claim, stoppedAt);
      log.info('Spooled rows left for a later run', { spool_entry: entry.id, recorded: tally.rows - before, resume_index: stoppedAt, rows_left: read.value.indexes - stoppedAt });
      return { left: read.value.indexes - stoppedAt };
    }
    o.store.complete(claim);
    log.info('Spooled rows recorded', { spool_entry: entry.id, recorded: tally.rows - before, rows: read.value.indexes });
    return 'completed';
  } finally {
    closeResultsFile(opened.value);
    log.flush();
  }
}
