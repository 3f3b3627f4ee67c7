/**
 * One run of the alert action, start to exit code: argv → stdin payload → params →
 * results file → one pipeline call per accepted row. Every outside effect (stdin,
 * stderr, environment, clock, XML parser, splunkd REST) comes in through AlertRunIO so
 * the whole contract runs in tests exactly as it runs under splunkd.
 */
import type { Failure, Result } from '../result';
import { ActionConfig, parseActionConfig } from './action-config';
import { AlertAddress, alertAddress } from './alert-address';
import { EXIT, ExitCode, worseExit } from './exit-codes';
import { checkInvocation } from './invocation';
import { createLogger, Logger } from './log';
import { AlertPayload, parsePayload, redactPayloadSecrets, XmlParser } from './payload';
import { readResultsFile, ResultFields, ResultRow, resultsLayout, ResultsLayout, ridFor } from './results-file';
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
  | { readonly status: 'failed'; readonly error: Failure };

/** Everything about this run the pipeline may use. */
export interface RunContext {
  readonly payload: AlertPayload;
  readonly config: ActionConfig;
  readonly mode: ResultsLayout['mode'];
  readonly log: Logger;
  /** Resolved at most once per run, on first use. */
  readonly secrets: () => Promise<ResolvedSecrets>;
  readonly startedMs: number;
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
}

/** How long the storage/passwords request may take; the whole run has maxtime (5m). */
const SECRETS_TIMEOUT_MS = 10_000;

export interface RunSummary {
  readonly exitCode: ExitCode;
  readonly rows: number;
  readonly handedOff: number;
  readonly rejected: number;
  readonly failed: number;
  readonly degraded: number;
}

export async function runAlertAction(io: AlertRunIO, createPipeline: PipelineFactory): Promise<RunSummary> {
  const started = io.now().getTime();
  const bootLog = createLogger(io.writeStderr, { base: { action_name: ACTION_NAME } });
  const empty = (exitCode: ExitCode): RunSummary => ({ exitCode, rows: 0, handedOff: 0, rejected: 0, failed: 0, degraded: 0 });
  /** The payload once parsed: its session key is blanked on the parsed form, not on the text. */
  let parsedPayload: AlertPayload | undefined;
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

  const log = createLogger(io.writeStderr, {
    level: config.logLevel,
    base: {
      action_name: ACTION_NAME,
      search_name: payload.searchName || 'adhoc',
      sid: payload.sid,
      app: payload.app,
      user: payload.owner,
      action_mode: payload.sid.includes('scheduler') ? 'saved' : 'adhoc',
      digest_mode: layout.mode === 'digest' ? 1 : 0,
    },
  });
  log.redact(payload.sessionKey);
  let exitCode: ExitCode = EXIT.OK;
  for (const p of problems) {
    log.error('Invalid action configuration', { reason: p.kind, message: p.message });
    exitCode = worseExit(exitCode, EXIT.BAD_PAYLOAD);
  }
  log.info('Invoking modular action', { results_file: payload.resultsFile, rid: layout.baseRid });

  const pipeline = createPipeline({
    payload,
    config,
    mode: layout.mode,
    log,
    secrets: memoize(() => resolveSecrets(payload, io, log)),
    startedMs: started,
  });
  for (const p of pipeline.configProblems) {
    log.error('Invalid action configuration', { reason: p.kind, message: p.message });
    exitCode = worseExit(exitCode, EXIT.BAD_PAYLOAD);
  }
  let rows = 0;
  let handedOff = 0;
  let rejected = 0;
  let failed = 0;
  let degraded = 0;
  const handleRow = async (row: ResultRow): Promise<void> => {
    rows += 1;
    const outcome = await handleOneRow(row, config, pipeline, log.child({ rid: row.rid }));
    if (outcome === 'rejected') rejected += 1;
    else if (outcome === 'failed') failed += 1;
    else {
      handedOff += 1;
      if (outcome === 'degraded') degraded += 1;
    }
  };

  const read = await readResultsFile(payload.resultsFile, layout, handleRow);
  if (!read.ok) {
    log.error('Cannot read results_file', { reason: read.error.kind, message: read.error.message, action_status: 'failure' });
    exitCode = worseExit(exitCode, EXIT.BAD_PAYLOAD);
    if (read.error.kind !== 'no_rows') deadLetter(stdin, `results_file ${read.error.kind}: ${read.error.message}`);
    if (rows === 0 && payload.result !== undefined) {
      // splunkd also sends the first result row inline: handle it rather than lose it.
      log.warn('Using the payload result row instead of results_file', { rows_available: 1 });
      await handleRow({ rid: ridFor(layout, 0), index: 0, fields: payload.result as ResultFields });
    }
  }
  try {
    const late = await pipeline.finish(log);
    if (late) {
      failed += late.failed;
      handedOff -= late.failed;
      degraded += late.degraded;
    }
  } catch (e) {
    log.error('Follow-up work failed', { reason: 'internal', message: (e as Error).stack ?? String(e) });
  }
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
    exit_code: exitCode,
    max_rss_kb: io.maxRssKb(),
    process_ms: io.uptimeMs ? Math.round(io.uptimeMs()) : undefined,
  });
  log.flush();
  return { exitCode, rows, handedOff, rejected, failed, degraded };
}

async function handleOneRow(
  row: ResultRow,
  config: ActionConfig,
  pipeline: RowPipeline,
  log: Logger,
): Promise<'handed_off' | 'degraded' | 'rejected' | 'failed'> {
  const address = alertAddress(row.fields, config.addressFields);
  if (!address.ok) {
    log.error('Result row rejected', { reason: address.error.kind, message: address.error.message, action_status: 'failure' });
    return 'rejected';
  }
  try {
    const outcome = await pipeline.handleRow({ row: row.fields, attacker: address.value, rid: row.rid }, log);
    if (outcome.status === 'handled') return outcome.degraded ? 'degraded' : 'handed_off';
    log.error('Incident pipeline failed', { reason: outcome.error.kind, message: outcome.error.message, action_status: 'failure' });
    return 'failed';
  } catch (e) {
    log.error('Incident pipeline crashed', { reason: 'internal', message: (e as Error).stack ?? String(e), action_status: 'failure' });
    return 'failed';
  }
}

async function resolveSecrets(payload: AlertPayload, io: AlertRunIO, log: Logger): Promise<ResolvedSecrets> {
  let stored: Secrets = {};
  if (payload.serverUri && payload.sessionKey) {
    const conn = connectionFromServerUri(payload.serverUri, payload.sessionKey, SECRETS_TIMEOUT_MS, alertActionTrust(io.env));
    const fetched = conn.ok ? await io.fetchStoredSecrets(conn.value) : conn;
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
