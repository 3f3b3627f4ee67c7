/**
 * Exit codes of the alert action. splunkd logs the code ("Alert action script returned
 * error code=N") but does not retry, so the code is for the admin reading splunkd.log.
 * When several problems occur in one run, the most severe one (lowest non-zero number
 * below) decides the code.
 */
export const EXIT = {
  /** Every row was handed to the pipeline and handled. */
  OK: 0,
  /** An unexpected internal error (a bug): the run stopped; the payload is kept for replay. */
  INTERNAL: 1,
  /** Bad invocation: not started with --execute, or unknown arguments. Nothing was read. */
  USAGE: 2,
  /** Bad payload: stdin empty or not JSON/XML, a required key missing or invalid, the
   * results file missing/unreadable/truncated, not a regular file, a symlink or over a size
   * cap, or a misconfigured param. Rows that could still be read were handled. */
  BAD_PAYLOAD: 3,
  /** Partial failure: the payload was fine, but at least one row was rejected (no valid
   * address, or a malformed record skipped) or failed in the pipeline; every other row was
   * handled. */
  PARTIAL: 4,
  /** The launcher found no usable Node.js (>= 18). Written by bin/soar_response.sh. */
  NO_NODE: 5,
  /** Degraded: every row was recorded or spooled, but an enrichment or a notification failed
   * (bad key, provider down, webhook refused), or the time budget ran short and rows were
   * spooled; what can be retried is kept in the queue, outbox or spool. */
  DEGRADED: 6,
  /** The data directory is not safe to use: writable by others, owned by another user, a
   * known file or folder in it a symbolic link or of the wrong type, or the install key
   * unusable. Nothing was read from stdin and nothing was written. */
  UNSAFE_DATA_DIR: 7,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

const SEVERITY: readonly ExitCode[] = [EXIT.INTERNAL, EXIT.USAGE, EXIT.UNSAFE_DATA_DIR, EXIT.BAD_PAYLOAD, EXIT.PARTIAL, EXIT.DEGRADED, EXIT.OK];

/** The more severe of two exit codes. */
export function worseExit(a: ExitCode, b: ExitCode): ExitCode {
  return SEVERITY.indexOf(a) <= SEVERITY.indexOf(b) ? a : b;
}
