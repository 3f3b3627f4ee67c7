/**
 * One run of the alert action, start to exit code: argv → stdin payload → params →
 * results file → one pipeline call per accepted row. Every outside effect (stdin,
 * stderr, environment, clock, XML parser, splunkd REST) comes in through AlertRunIO so
 * the whole contract runs in tests exactly as it runs under splunkd.
 */
import { Failure, ok, Result } from '../result';
import { ActionConfig, parseActionConfig } from './action-config';
import type { AlertAddress } from './alert-address';
import { EXIT, ExitCode, worseExit } from './exit-codes';
import { checkInvocation } from './invocation';
import { sharedSplunkdAgent, sharedSplunkdTls } from '../net/splunkd-agent';
import { createLogger, Logger } from './log';
import { AlertPayload, parsePayload, redactPayloadSecrets, XmlParser } from './payload';
import { closeResultsFile, MalformedRecord, openResultsFile, ReadSummary, readResults, ResultFields, ResultRow, ResultsErrorKind, resultsLayout, ResultsLayout, ResultsSource, ridFor, RowAnswer } from './results-file';
import type { SpoolStore } from '../store/spool';
import { handleOneRow, logMalformed, RowTally, stopMarginMs } from './row-loop';
import { runMaintenance, MaintenanceSetup } from './maintenance-run';
import { processSpool, SpoolRunReport } from './spool-run';
import {
  alertActionTrust,
  connectionFromServerUri,
  mergeSecrets,
  ResolvedSecrets,
  Secrets,
  secretsFromEnv,
  SplunkConnection,
  SplunkRestErrorKind,
} from './secrets';

export const ACTION_NAME = 'soar_response';

/** One accepted result row, as the contract layer hands it to the incident pipeline. */
export interface AlertRowInput {
  /** The result row as Splunk wrote it (multivalue fields as arrays). */
  readonly row: ResultFields;
  readonly attacker: AlertAddress;
  readonly rid: string;
}

/** What the pipeline made of one row: handled (possibly degraded: kept for later), or failed. */
export type RowOutcome =
  | { readonly status: 'handled'; readonly degraded?: string }
  | { readonly status: 'failed'; readonly error: Failure }
  /** Not handled now: the shared state (the KV store) is down or read-only; the row is spooled for a later run. */
  | { readonly status: 'unavailable'; readonly error: Failure };

/** Everything about this run the pipeline may use. */
export interface RunContext {
  readonly payload: AlertPayload;
  readonly config: ActionConfig;
  readonly mode: ResultsLayout['mode'];
  readonly log: Logger;
  /** Resolved at most once per run, on first use. */
  readonly secrets: () => Promise<ResolvedSecrets>;
  readonly startedMs: number;
  /** When the run's time budget ends, if not startedMs + the time_budget param (the spool processor's). */
  readonly deadlineMs?: number;
}

/** The incident pipeline, created once per run. */
export interface RowPipeline {
  /** Params the pipeline could not use (each replaced by its default). */
  readonly configProblems: readonly Failure[];
  handleRow(input: AlertRowInput, log: Logger): Promise<RowOutcome>;
  /**
   * After the last row: records still batched, then follow-up work that fits in the time
   * left (outbox, queue). Returns rows that failed or degraded after handleRow had returned.
   */
  finish(log: Logger): Promise<{ failed: number; degraded: number } | void>;
  /** When the run's time budget ends (epoch ms): rows stop being handled, and are spooled, a margin before it. */
  readonly deadlineMs?: number;
  /** Record what is batched now (before a spool entry or checkpoint names the index reached); late failures so far. */
  flush?(log: Logger): Promise<{ failed: number; degraded: number } | void>;
}

export type PipelineFactory = (context: RunContext) => RowPipeline;

export interface AlertRunIO {
  readonly args: readonly string[];
  /** All of stdin; undefined when it exceeded the size limit. */
  readonly readStdin: () => Promise<string | undefined>;
  readonly writeStderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now: () => Date;
  readonly parseXml: XmlParser;
  readonly fetchStoredSecrets: (conn: SplunkConnection) => Promise<Result<Secrets, SplunkRestErrorKind>>;
  /** Peak resident memory so far, in KiB (reported in the closing line). */
  readonly maxRssKb: () => number;
  /** Milliseconds since the process started (closing line: start-up cost is visible too). */
  readonly uptimeMs?: () => number;
  /** Keep a payload that could not be processed, with the reason, for `soar-edr replay`. */
  readonly keepDeadLetter: (payloadText: string, reason: string) => string | undefined;
  /**
   * The data directory's safety check (store/data-dir-safety.ts), before stdin is read or
   * anything written: a failure refuses the run with EXIT.UNSAFE_DATA_DIR.
   */
  readonly checkDataDir?: () => Failure | undefined;
  /** Where rows go that the time budget leaves no time for (and where earlier runs' wait). Without it rows run past the budget. */
  readonly spool?: SpoolStore;
  /** The lease and the follow-up work of a maintenance run (param mode = maintenance); without it such a run is refused. */
  readonly maintenance?: MaintenanceSetup;
}

/** Spooled rows an alert run records at its end, at most (the rest is for later runs and soar-edr drain). */
const SPOOL_ROWS_PER_RUN = 20_000;
/** Only with at least this much of the budget left. */
const SPOOL_FOLLOW_UP_MIN_MS = 10_000;

/** How long the storage/passwords request may take; the whole run has maxtime (5m). */
const SECRETS_TIMEOUT_MS = 10_000;

export interface RunSummary {
  readonly exitCode: ExitCode;
  readonly rows: number;
  readonly handedOff: number;
  readonly rejected: number;
  readonly failed: number;
  readonly degraded: number;
  /** Rows kept in the spool for a later run (time budget ran short). */
  readonly spooled: number;
}

export async function runAlertAction(io: AlertRunIO, createPipeline: PipelineFactory): Promise<RunSummary> {
  const started = io.now().getTime();
  const bootLog = createLogger(io.writeStderr, { base: { action_name: ACTION_NAME } });
  /** The payload once parsed: its session key is blanked on the parsed form, not on the text. */
  let parsedPayload: AlertPayload | undefined;
  const empty = (exitCode: ExitCode): RunSummary => ({ exitCode, rows: 0, handedOff: 0, rejected: 0, failed: 0, degraded: 0, spooled: 0 });
  const deadLetter = (text: string, reason: string): void => {
    try {
      // The session key is a live credential until the session expires: never on disk.
      const file = io.keepDeadLetter(redactPayloadSecrets(text, parsedPayload), reason);
      if (file) bootLog.warn('Payload kept as a dead letter', { file, message: 'run it again with: soar-edr replay FILE' });
    } catch (e) {
      bootLog.error('Cannot keep the payload as a dead letter', { message: (e as Error).message });
    }
  };

  const invocation = checkInvocation(io.args);
  if (!invocation.ok) {
    bootLog.fatal('Unsupported execution mode', { message: invocation.error.message });
    bootLog.flush();
    return empty(EXIT.USAGE);
  }
  const unsafe = io.checkDataDir?.();
  if (unsafe) {
    bootLog.error('Refusing to run: unsafe data directory', { reason: unsafe.kind, message: unsafe.message });
    bootLog.flush();
    return empty(EXIT.UNSAFE_DATA_DIR);
  }

  const stdin = await io.readStdin();
  if (stdin === undefined) {
    bootLog.error('Payload rejected', { reason: 'too_large', message: 'stdin exceeded the payload size limit' });
    bootLog.flush();
    return empty(EXIT.BAD_PAYLOAD);
  }
  const parsed = await parsePayload(stdin, io.parseXml);
  if (!parsed.ok) {
    bootLog.error('Payload rejected', { reason: parsed.error.kind, message: parsed.error.message });
    if (parsed.error.kind !== 'empty') deadLetter(stdin, `${parsed.error.kind}: ${parsed.error.message}`);
    bootLog.flush();
    return empty(EXIT.BAD_PAYLOAD);
  }
  const payload = parsed.value;
  parsedPayload = payload;
  const layout = resultsLayout(payload.resultsFile, payload.resultId);
  const { config, problems } = parseActionConfig(payload.configuration);

  const log = createLogger(io.writeStderr, { level: config.logLevel, base: alertLogBase(payload, layout.mode) });
  log.redact(payload.sessionKey);
  let exitCode: ExitCode = EXIT.OK;
  for (const p of problems) {
    log.error('Invalid action configuration', { reason: p.kind, message: p.message });
    exitCode = worseExit(exitCode, EXIT.BAD_PAYLOAD);
  }
  // A maintenance run that finds nothing to do writes only its closing line (every minute).
  const opening = { results_file: payload.resultsFile, rid: layout.baseRid, mode: config.mode === 'maintenance' ? config.mode : undefined };
  if (config.mode === 'maintenance') log.debug('Invoking modular action', opening);
  else log.info('Invoking modular action', opening);

  const memoSecrets = memoize(() => resolveSecrets(payload, io, log));
  if (config.mode === 'maintenance') {
    // The result row (makeresults) is no incident: it is neither read nor rejected.
    return runMaintenance({ io, payload, config, log, secrets: memoSecrets, startedMs: started, exitCode, createPipeline });
  }
  const pipeline = createPipeline({
    payload,
    config,
    mode: layout.mode,
    log,
    secrets: memoSecrets,
    startedMs: started,
  });
  for (const p of pipeline.configProblems) {
    log.error('Invalid action configuration', { reason: p.kind, message: p.message });
    exitCode = worseExit(exitCode, EXIT.BAD_PAYLOAD);
  }
  const tally = new RowTally();
  const spool = io.spool;
  const deadlineMs = pipeline.deadlineMs;
  let marginMs = 0;
  /** Why the rows stopped before the end: the time budget, or the shared state (spool either way). */
  let stopReason: { kind: 'time' } | { kind: 'state'; message: string } = { kind: 'time' };
  const handleRow = async (row: ResultRow): Promise<RowAnswer> => {
    // Out of time: the rest is spooled rather than cut off by splunkd's maxtime.
    if (spool !== undefined && deadlineMs !== undefined && io.now().getTime() >= deadlineMs - marginMs) return 'stop';
    const result = await handleOneRow(row, config, pipeline, log.child({ rid: row.rid }));
    if (typeof result === 'object') {
      // The KV store is down or read-only: this row and the rest wait in the spool.
      if (spool !== undefined) {
        stopReason = { kind: 'state', message: result.unavailable };
        return 'stop';
      }
      tally.add('failed');
      return undefined;
    }
    tally.add(result);
  };
  // A skipped record is a rejected row: it took its row number.
  const onMalformed = (m: MalformedRecord): void => {
    tally.rows += 1;
    tally.rejected += 1;
    logMalformed(log, m);
  };

  let spooled = 0;
  const opened = openResultsFile(payload.resultsFile);
  let read: Result<ReadSummary, ResultsErrorKind> = opened.ok ? ok(EMPTY_READ) : opened;
  if (opened.ok) {
    try {
      if (deadlineMs !== undefined) marginMs = stopMarginMs(deadlineMs - started, opened.value.size);
      read = await readResults(opened.value, layout, handleRow, { onMalformed });
      const stoppedAt = read.ok ? read.value.stoppedAt : undefined;
      if (read.ok && stoppedAt !== undefined && spool !== undefined) {
        const left = read.value.indexes - stoppedAt;
        const kept = await spoolRest(spool, opened.value, payload, layout, stoppedAt, read.value.indexes, pipeline, log, tally, stopReason);
        if (kept) {
          spooled = left;
          exitCode = worseExit(exitCode, EXIT.DEGRADED);
        } else {
          // Not spooled: the payload is kept for replay (rows recorded already are skipped then).
          tally.failed += left;
          deadLetter(stdin, `spool failed: ${left} row(s) from index ${stoppedAt} not recorded`);
        }
      }
    } finally {
      closeResultsFile(opened.value);
    }
  }
  if (!read.ok) {
    log.error('Cannot read results_file', { reason: read.error.kind, message: read.error.message, action_status: 'failure' });
    exitCode = worseExit(exitCode, EXIT.BAD_PAYLOAD);
    if (read.error.kind !== 'no_rows') deadLetter(stdin, `results_file ${read.error.kind}: ${read.error.message}`);
    if (tally.rows === 0 && payload.result !== undefined) {
      // splunkd also sends the first result row inline: handle it rather than lose it.
      log.warn('Using the payload result row instead of results_file', { rows_available: 1 });
      await handleRow({ rid: ridFor(layout, 0), index: 0, fields: payload.result as ResultFields });
    }
  }
  try {
    tally.addLate(await pipeline.finish(log));
  } catch (e) {
    log.error('Follow-up work failed', { reason: 'internal', message: (e as Error).stack ?? String(e) });
  }
  let spoolRecorded: number | undefined;
  if (spool !== undefined && deadlineMs !== undefined && spooled === 0 && deadlineMs - io.now().getTime() >= SPOOL_FOLLOW_UP_MIN_MS) {
    spoolRecorded = (await recordSpooled(spool, io, createPipeline, memoSecrets, log, started, deadlineMs, { serverUri: payload.serverUri, sessionKey: payload.sessionKey }))?.tally.rows;
  }
  const { rows, rejected, failed, degraded } = tally;
  const handedOff = tally.handedOff;
  if (rejected + failed > 0) exitCode = worseExit(exitCode, EXIT.PARTIAL);
  if (degraded > 0) exitCode = worseExit(exitCode, EXIT.DEGRADED);

  log.info('Modular action script duration', {
    action_status: exitCode === EXIT.OK ? 'success' : 'failure',
    duration: io.now().getTime() - started,
    rows,
    handed_off: handedOff,
    rejected,
    failed,
    degraded,
    spooled,
    spool_recorded: spoolRecorded,
    exit_code: exitCode,
    max_rss_kb: io.maxRssKb(),
    process_ms: io.uptimeMs ? Math.round(io.uptimeMs()) : undefined,
  });
  log.flush();
  return { exitCode, rows, handedOff, rejected, failed, degraded, spooled };
}

const EMPTY_READ: ReadSummary = { rows: 0, columns: [], malformed: 0, indexes: 0, stoppedAt: undefined };

/** The run's log fields for an alert: its search, sid, app, owner, mode. */
export function alertLogBase(p: { searchName: string; sid: string; app: string; owner: string }, mode: ResultsLayout['mode']): Record<string, string | number> {
  return {
    action_name: ACTION_NAME,
    search_name: p.searchName || 'adhoc',
    sid: p.sid,
    app: p.app,
    user: p.owner,
    action_mode: p.sid.includes('scheduler') ? 'saved' : 'adhoc',
    digest_mode: mode === 'digest' ? 1 : 0,
  };
}

/**
 * Keep the rows from `stoppedAt` on: what is batched is recorded first (so every row before
 * the entry's index is in the ledger), then the results file is copied through its
 * descriptor and a sealed entry written.
 */
async function spoolRest(
  spool: SpoolStore,
  source: ResultsSource,
  payload: AlertPayload,
  layout: ResultsLayout,
  stoppedAt: number,
  indexes: number,
  pipeline: RowPipeline,
  log: Logger,
  tally: RowTally,
  why: { kind: 'time' } | { kind: 'state'; message: string },
): Promise<boolean> {
  tally.addLate(await pipeline.flush?.(log));
  const context = {
    sid: payload.sid,
    searchName: payload.searchName,
    app: payload.app,
    owner: payload.owner,
    resultsLink: payload.resultsLink,
    configuration: payload.configuration,
    mode: layout.mode,
    baseRid: layout.baseRid ?? null,
  };
  const put = spool.put(source.fd, source.gzipped, context, stoppedAt, indexes);
  if (!put.ok) {
    log.error('Cannot spool the rows the time budget left no time for', { reason: put.error.kind, message: put.error.message, rows_left: indexes - stoppedAt, action_status: 'failure' });
    return false;
  }
  if (why.kind === 'state') {
    log.warn('KV store unavailable; rows spooled for a later run or the maintenance search', {
      spooled: indexes - stoppedAt,
      resume_index: stoppedAt,
      spool_entry: put.value,
      message: `${why.message}. The next run or the maintenance search records them once the KV store answers, each exactly once`,
    });
    return true;
  }
  log.warn('Time budget running short; rows spooled for a later run or soar-edr drain', {
    spooled: indexes - stoppedAt,
    resume_index: stoppedAt,
    spool_entry: put.value,
    message: 'the next alert runs record a bounded number of them; soar-edr drain records them all',
  });
  return true;
}

/** At the end of a run with time to spare (or in a maintenance run): record some spooled rows of earlier runs, with this run's secrets. */
export async function recordSpooled(
  spool: SpoolStore,
  io: AlertRunIO,
  createPipeline: PipelineFactory,
  secrets: () => Promise<ResolvedSecrets>,
  log: Logger,
  started: number,
  deadlineMs: number,
  splunkd?: { readonly serverUri: string; readonly sessionKey: string },
): Promise<SpoolRunReport | undefined> {
  try {
    spool.recoverStale();
    if (spool.waiting() === 0) return undefined;
    return await processSpool({
      store: spool,
      createPipeline,
      secrets,
      log,
      logFor: (c) => createLogger(io.writeStderr, { level: parseActionConfig(c.configuration).config.logLevel, base: { ...alertLogBase(c, c.mode), spool: 1 } }),
      now: () => io.now().getTime(),
      startedMs: started,
      deadlineMs,
      maxRows: SPOOL_ROWS_PER_RUN,
      ...(splunkd ? { splunkd } : {}),
    });
  } catch (e) {
    log.error('Spooled rows could not be recorded', { reason: 'internal', message: (e as Error).stack ?? String(e) });
    return undefined;
  }
}

async function resolveSecrets(payload: AlertPayload, io: AlertRunIO, log: Logger): Promise<ResolvedSecrets> {
  let stored: Secrets = {};
  if (payload.serverUri && payload.sessionKey) {
    const conn = connectionFromServerUri(payload.serverUri, payload.sessionKey, SECRETS_TIMEOUT_MS, alertActionTrust(io.env));
    // The KV store's requests share this connection (pipeline/deps.ts).
    const fetched = conn.ok ? await io.fetchStoredSecrets({ ...conn.value, agent: sharedSplunkdAgent(conn.value.scheme), tls: () => sharedSplunkdTls(conn.value.host, conn.value.trust ?? alertActionTrust(io.env)) }) : conn;
    if (fetched.ok) stored = fetched.value;
    else log.warn('Cannot read storage/passwords; using SOAR_* environment variables', { reason: fetched.error.kind, message: fetched.error.message });
  } else {
    log.debug('No server_uri/session_key in payload; secrets from SOAR_* environment variables only');
  }
  const resolved = mergeSecrets(stored, secretsFromEnv(io.env));
  for (const value of Object.values(resolved.values)) log.redact(value);
  return resolved;
}

function memoize<T>(make: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined;
  return () => (promise ??= make());
}
