/**
 * One result row into the pipeline: the attacker address picked, then the pipeline's
 * outcome, each problem logged once. Shared by an alert run and by the spool processor,
 * so a spooled row is handled exactly as it would have been in its own run.
 */
import type { ActionConfig } from './action-config';
import type { RowPipeline } from './alert-run';
import { alertAddress } from './alert-address';
import type { Logger } from './log';
import type { MalformedRecord, ResultRow } from './results-file';

export type RowResult = 'handed_off' | 'degraded' | 'rejected' | 'failed';

/** A row the shared state could not take now (the KV store down or read-only): not counted, spooled by the caller. */
export interface RowUnavailable {
  readonly unavailable: string;
}

export async function handleOneRow(row: ResultRow, config: ActionConfig, pipeline: RowPipeline, log: Logger): Promise<RowResult | RowUnavailable> {
  const address = alertAddress(row.fields, config.addressFields);
  if (!address.ok) {
    log.error('Result row rejected', { reason: address.error.kind, message: address.error.message, action_status: 'failure' });
    return 'rejected';
  }
  try {
    const outcome = await pipeline.handleRow({ row: row.fields, attacker: address.value, rid: row.rid }, log);
    if (outcome.status === 'handled') return outcome.degraded ? 'degraded' : 'handed_off';
    if (outcome.status === 'unavailable') return { unavailable: outcome.error.message };
    log.error('Incident pipeline failed', { reason: outcome.error.kind, message: outcome.error.message, action_status: 'failure' });
    return 'failed';
  } catch (e) {
    log.error('Incident pipeline crashed', { reason: 'internal', message: (e as Error).stack ?? String(e), action_status: 'failure' });
    return 'failed';
  }
}

/** One ERROR per skipped record, naming where it is; it counts as a rejected row. */
export function logMalformed(log: Logger, m: MalformedRecord): void {
  log.error('Result row rejected', { rid: m.rid, reason: `malformed_record_${m.reason}`, line: m.line, bytes: m.bytes, message: `${m.message}: skipped, the rows after it are read as usual`, action_status: 'failure' });
}

/** Counts of one pass over rows. */
export class RowTally {
  rows = 0;
  handedOff = 0;
  rejected = 0;
  failed = 0;
  degraded = 0;

  add(result: RowResult): void {
    this.rows += 1;
    if (result === 'rejected') this.rejected += 1;
    else if (result === 'failed') this.failed += 1;
    else {
      this.handedOff += 1;
      if (result === 'degraded') this.degraded += 1;
    }
  }

  /** Failures and degradations the pipeline found after handleRow returned (batched records). */
  addLate(late: { failed: number; degraded: number } | void): void {
    if (!late) return;
    this.failed += late.failed;
    this.handedOff -= late.failed;
    this.degraded += late.degraded;
  }
}

/**
 * How long before the deadline a run stops handling rows, leaving time to record what is
 * batched, to count the rows left, to copy the results file into the spool and for splunkd's
 * maxtime beyond the budget: 5 s plus a second per 20 MB of results file, at most a quarter
 * of the budget.
 */
export function stopMarginMs(budgetMs: number, fileBytes: number): number {
  return Math.min(budgetMs / 4, 5_000 + fileBytes / 20_000);
}
