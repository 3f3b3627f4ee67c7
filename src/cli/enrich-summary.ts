/**
 * --enrich for the analysis commands: their candidates go through `soar-edr reputation`'s own
 * run (runReputation: the alert action's address gate, cache, quota limiter and verdict), and
 * its rows come back as data to merge into one report instead of a second document on stdout.
 * Its progress bar and summary line still go to stderr.
 */
import { Writable } from 'node:stream';
import type { CellValue } from './output-format';
import { runReputation, ReputationRunOptions } from './reputation-command';
import type { CliIO } from './runtime';

/** One reputation row as `soar-edr reputation --format json` prints it (target, verdict, status, reason, scores…). */
export type ReputationRecord = Readonly<Record<string, CellValue>>;

export interface ReputationLookup {
  /** Rows by target as looked up (the text given). */
  readonly rows: ReadonlyMap<string, ReputationRecord>;
  /** runReputation's exit code (0: every target answered or skipped by the gate). */
  readonly exitCode: number;
}

export type RunReputation = (io: CliIO, targets: readonly string[], options?: ReputationRunOptions) => Promise<number>;

/** A stdout that keeps what is written (the reputation rows as JSON). */
function capture(): { stream: NodeJS.WriteStream; text: () => string } {
  const parts: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      parts.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
      done();
    },
  });
  // runReputation only writes to it; it never asks for terminal features of stdout.
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => parts.join('') };
}

/** The rows of `soar-edr reputation --format json` output, keyed by target. */
export function reputationRows(json: string): Map<string, ReputationRecord> {
  const rows = new Map<string, ReputationRecord>();
  if (json.trim() === '') return rows;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return rows;
  }
  if (!Array.isArray(parsed)) return rows;
  for (const r of parsed) {
    if (r !== null && typeof r === 'object' && typeof (r as { target?: unknown }).target === 'string') {
      rows.set((r as { target: string }).target, r as ReputationRecord);
    }
  }
  return rows;
}

/**
 * Looks `targets` up; nothing is asked when there are none. The rows are read from
 * runReputation's JSON output; its stderr (summary, progress on a terminal) is the user's.
 */
export async function lookUpReputation(io: CliIO, targets: readonly string[], run: RunReputation = runReputation): Promise<ReputationLookup> {
  if (targets.length === 0) return { rows: new Map(), exitCode: 0 };
  const out = capture();
  const exitCode = await run({ ...io, stdout: out.stream }, targets, { format: 'json' });
  return { rows: reputationRows(out.text()), exitCode };
}

/** "MALICIOUS", or "skipped" / "no_key" / "failed" when no verdict could be made. */
export function verdictText(row: ReputationRecord | undefined): string {
  if (row === undefined) return '';
  const status = typeof row.status === 'string' ? row.status : '';
  const verdict = typeof row.verdict === 'string' ? row.verdict : '';
  return status === 'looked_up' || status === 'cached' ? verdict : status || verdict;
}
