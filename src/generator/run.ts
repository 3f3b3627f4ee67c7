import { createWriteStream } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';
import { fail, ok, type Failure, type Result } from '../result';
import { ADDRESS_FAMILIES, type AddressFamily } from './addresses';
import type { EventSink } from './event-sink';
import { FORMAT_NAMES, type FormatName } from './formats';
import { createLineSource, type LineSpec } from './line-source';
import { SCENARIO_NAMES, type ScenarioName } from './scenarios';
import { createStreamSink } from './stream-sink';
import {
  createTcpSender,
  DEFAULT_MAX_WRITES_PER_BATCH,
  DEFAULT_RECONNECT_POLICY,
  describeTarget,
  type ReconnectPolicy,
} from './tcp-sender';

/** What the CLI (`soar-edr generate`, `npm run attack`) hands over after parsing its flags. */
export interface GeneratorOptions {
  readonly scenario: string;
  readonly format: string;
  /** any text or number; the same seed and options give byte-identical event text */
  readonly seed: number | string;
  /** epoch ms of the first event's timestamp (the CLI passes "now"; tests a fixed time) */
  readonly startMs: number;
  /** events (lines) to send; with durationMs, whichever ends first */
  readonly count?: number;
  /** stop after this much real time */
  readonly durationMs?: number;
  /** events per second; 0 = as fast as the connection takes them */
  readonly rate: number;
  /** 'any' (default), 'ipv4' or 'ipv6' source addresses */
  readonly addressFamily?: string;
  /** host name written into the lines (sshd host / Windows ComputerName) */
  readonly hostname?: string;
  readonly host: string;
  readonly port: number;
  /** write to deps.dryRunOutput instead of a socket */
  readonly dryRun?: boolean;
  /** write to this file instead of a socket */
  readonly outFile?: string;
  /** most lines per write (default 1024) */
  readonly batchLines?: number;
  /** a write stops taking lines once its text reaches this many characters (default 32 KiB) */
  readonly batchChars?: number;
  /** how often deps.onProgress is called (default 250 ms) */
  readonly progressIntervalMs?: number;
  readonly reconnect?: Partial<ReconnectPolicy>;
  /** connections an unacknowledged batch may be written on before it counts failed (default 3) */
  readonly maxWritesPerBatch?: number;
}

export interface GeneratorProgress {
  readonly sent: number;
  readonly failed: number;
  readonly reconnects: number;
  /** lines produced so far (sent + failed + in flight) */
  readonly generated: number;
  /** the count asked for, null for duration-only runs */
  readonly total: number | null;
  readonly elapsedMs: number;
  readonly ratePerSec: number;
  readonly connected: boolean;
}

export type StopReason = 'count-reached' | 'duration-elapsed' | 'connection-lost' | 'output-failed' | 'aborted';

export interface GeneratorSummary {
  /** lines written and flushed to the target */
  readonly sent: number;
  /**
   * lines not delivered: retried past the bound, queued when the sender gave up, and — for a
   * count run that lost its connection for good — the rest of the count, never written.
   * For count runs that were not aborted, sent + failed === count.
   */
  readonly failed: number;
  readonly reconnects: number;
  readonly generated: number;
  readonly elapsedMs: number;
  /** sent per second of elapsed time */
  readonly ratePerSec: number;
  readonly stopReason: StopReason;
  /** why the run ended early, if it did */
  readonly error: Failure | null;
  /** e.g. "tcp 127.0.0.1:1514", "file /tmp/a.log", "dry-run output" */
  readonly target: string;
}

/** The outside world the generator needs; nodeGeneratorDeps() gives the real one. */
export interface GeneratorDeps {
  /** monotonic milliseconds (pacing, duration, elapsed) */
  now(): number;
  connect(host: string, port: number): Socket;
  openFile(path: string): Writable;
  /** where --dry-run writes (the CLI passes stdout) */
  readonly dryRunOutput?: Writable;
  readonly onProgress?: (progress: GeneratorProgress) => void;
  /** aborting stops generation; what is queued is still delivered if connected */
  readonly signal?: AbortSignal;
}

export function nodeGeneratorDeps(extra: Partial<Pick<GeneratorDeps, 'dryRunOutput' | 'onProgress' | 'signal'>> = {}): GeneratorDeps {
  return {
    now: () => performance.now(),
    // "localhost" may resolve to ::1 first while the input listens on IPv4 only: try both families
    connect: (host, port) => createConnection({ host, port, autoSelectFamily: true }),
    openFile: (path) => createWriteStream(path, { flags: 'w' }),
    ...extra,
  };
}

const DEFAULT_BATCH_LINES = 1024;
/**
 * Writes of a few tens of KiB go to the kernel in one syscall and fit one 64 KiB read on the
 * other side; measured on loopback, larger writes are slower (partial writes, queueing) and a
 * peer that drops the connection mid-write loses more.
 */
const DEFAULT_BATCH_CHARS = 32 * 1024;
const DEFAULT_PROGRESS_MS = 250;

interface Plan {
  readonly spec: LineSpec;
  readonly count: number | null;
  readonly durationMs: number | null;
  readonly rate: number;
  readonly batchLines: number;
  readonly batchChars: number;
  readonly progressIntervalMs: number;
  readonly output: { kind: 'tcp'; host: string; port: number; reconnect: ReconnectPolicy; maxWritesPerBatch: number } | { kind: 'file'; path: string } | { kind: 'dry-run' };
}

const isNonNegativeInteger = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0;
const isPositiveInteger = (n: unknown): n is number => isNonNegativeInteger(n) && n > 0;

/** Checks the options and resolves defaults; every message names the option and what is allowed. */
export function planRun(options: GeneratorOptions, deps: Pick<GeneratorDeps, 'dryRunOutput' | 'signal'>): Result<Plan> {
  const bad = (message: string) => fail('invalid-option', message);
  if (!SCENARIO_NAMES.includes(options.scenario as ScenarioName)) {
    return bad(`unknown scenario '${options.scenario}'; choose one of: ${SCENARIO_NAMES.join(', ')}`);
  }
  if (!FORMAT_NAMES.includes(options.format as FormatName)) {
    return bad(`unknown format '${options.format}'; choose one of: ${FORMAT_NAMES.join(', ')}`);
  }
  const family = options.addressFamily ?? 'any';
  if (!ADDRESS_FAMILIES.includes(family as AddressFamily)) {
    return bad(`unknown address family '${family}'; choose one of: ${ADDRESS_FAMILIES.join(', ')}`);
  }
  if (!((typeof options.seed === 'string' && options.seed.length > 0) || (typeof options.seed === 'number' && Number.isFinite(options.seed)))) {
    return bad('seed must be a non-empty text or a finite number');
  }
  if (!Number.isFinite(options.startMs)) return bad('start time must be a finite epoch-milliseconds number');
  if (!(typeof options.rate === 'number' && Number.isFinite(options.rate) && options.rate >= 0)) {
    return bad(`rate must be a number of events per second >= 0 (0 = unthrottled), got ${String(options.rate)}`);
  }
  if (options.count !== undefined && !isNonNegativeInteger(options.count)) {
    return bad(`count must be a whole number >= 0, got ${String(options.count)}`);
  }
  if (options.durationMs !== undefined && !(Number.isFinite(options.durationMs) && options.durationMs > 0)) {
    return bad(`duration must be a positive number of milliseconds, got ${String(options.durationMs)}`);
  }
  if (options.count === undefined && options.durationMs === undefined && deps.signal === undefined) {
    return bad('give a count or a duration, or an abort signal to stop the run');
  }
  const batchLines = options.batchLines ?? DEFAULT_BATCH_LINES;
  if (!isPositiveInteger(batchLines)) return bad(`batch size must be a whole number >= 1, got ${String(batchLines)}`);
  const batchChars = options.batchChars ?? DEFAULT_BATCH_CHARS;
  if (!isPositiveInteger(batchChars)) return bad(`batch characters must be a whole number >= 1, got ${String(batchChars)}`);
  const progressIntervalMs = options.progressIntervalMs ?? DEFAULT_PROGRESS_MS;
  if (!(Number.isFinite(progressIntervalMs) && progressIntervalMs > 0)) return bad('progress interval must be a positive number of milliseconds');

  let output: Plan['output'];
  if (options.outFile !== undefined && options.dryRun === true) {
    return bad('choose one output: a dry run or an output file, not both');
  }
  if (options.outFile !== undefined) {
    if (options.outFile.length === 0) return bad('output file path is empty');
    output = { kind: 'file', path: options.outFile };
  } else if (options.dryRun === true) {
    if (deps.dryRunOutput === undefined) return bad('a dry run needs an output stream to write to');
    output = { kind: 'dry-run' };
  } else {
    if (typeof options.host !== 'string' || options.host.length === 0) return bad('host must be a non-empty host name or address');
    if (!(Number.isInteger(options.port) && options.port >= 1 && options.port <= 65535)) {
      return bad(`port must be a whole number from 1 to 65535, got ${String(options.port)}`);
    }
    const reconnect: ReconnectPolicy = { ...DEFAULT_RECONNECT_POLICY, ...options.reconnect };
    if (!(reconnect.initialDelayMs >= 0 && reconnect.maxDelayMs >= reconnect.initialDelayMs && reconnect.connectTimeoutMs > 0)) {
      return bad('reconnect delays must be >= 0 with the maximum >= the initial delay, and the connect timeout > 0');
    }
    if (!isPositiveInteger(reconnect.maxAttempts)) return bad('reconnect attempts must be a whole number >= 1');
    const maxWritesPerBatch = options.maxWritesPerBatch ?? DEFAULT_MAX_WRITES_PER_BATCH;
    if (!isPositiveInteger(maxWritesPerBatch)) return bad('writes per batch must be a whole number >= 1');
    output = { kind: 'tcp', host: options.host, port: options.port, reconnect, maxWritesPerBatch };
  }

  const spec: LineSpec = {
    scenario: options.scenario as ScenarioName,
    format: options.format as FormatName,
    seed: options.seed,
    startMs: options.startMs,
    addressFamily: family as AddressFamily,
    ...(options.hostname !== undefined ? { hostname: options.hostname } : {}),
  };
  return ok({
    spec,
    count: options.count ?? null,
    durationMs: options.durationMs ?? null,
    rate: options.rate,
    batchLines,
    batchChars,
    progressIntervalMs,
    output,
  });
}

function openSink(plan: Plan, deps: GeneratorDeps): { sink: EventSink; target: string } {
  const out = plan.output;
  switch (out.kind) {
    case 'tcp':
      return {
        sink: createTcpSender({ host: out.host, port: out.port, reconnect: out.reconnect, maxWritesPerBatch: out.maxWritesPerBatch }, deps),
        target: `tcp ${describeTarget(out.host, out.port)}`,
      };
    case 'file':
      return { sink: createStreamSink(deps.openFile(out.path), { label: `file ${out.path}`, endWhenDone: true }), target: `file ${out.path}` };
    case 'dry-run':
      return { sink: createStreamSink(deps.dryRunOutput as Writable, { label: 'dry-run output', endWhenDone: false }), target: 'dry-run output' };
  }
}

/** Resolves after `ms`, or early when the signal aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(finish, ms);
    function finish(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      resolve();
    }
    signal?.addEventListener('abort', finish, { once: true });
  });
}

/** Resolves when `p` settles, after `ms` (if given), or when the signal aborts, whichever is first. */
function until(p: Promise<void>, ms: number | null, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = ms === null ? null : setTimeout(finish, ms);
    function finish(): void {
      if (timer !== null) clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      resolve();
    }
    signal?.addEventListener('abort', finish, { once: true });
    void p.then(finish);
  });
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs one generation: produces lines from the scenario and format, paces them (event i is due
 * i/rate seconds after the first connection; with rate 0 as fast as the sink drains), and
 * writes them in batches to the TCP input, a file or the dry-run stream. Invalid options come
 * back as `invalid-option`; a run that starts always yields a summary, whose `error` tells why
 * it ended early.
 */
export async function runGenerator(options: GeneratorOptions, deps: GeneratorDeps): Promise<Result<GeneratorSummary>> {
  const planned = planRun(options, deps);
  if (!planned.ok) return planned;
  const plan = planned.value;
  const { signal } = deps;
  const startedAt = deps.now();
  const source = createLineSource(plan.spec);
  const { sink, target } = openSink(plan, deps);
  const limit = plan.count ?? Number.POSITIVE_INFINITY;
  let generated = 0;

  const progress = (): GeneratorProgress => {
    const c = sink.counts();
    const elapsedMs = deps.now() - startedAt;
    return {
      sent: c.sent,
      failed: c.failed,
      reconnects: c.reconnects,
      generated,
      total: plan.count,
      elapsedMs,
      ratePerSec: elapsedMs > 0 ? (c.sent * 1000) / elapsedMs : 0,
      connected: c.connected,
    };
  };
  const onProgress = deps.onProgress;
  const ticker = onProgress === undefined ? null : setInterval(() => onProgress(progress()), plan.progressIntervalMs);
  ticker?.unref();

  let stopReason: StopReason | null = null;
  let paceStart: number | null = null;
  while (stopReason === null) {
    if (signal?.aborted === true) {
      stopReason = 'aborted';
      break;
    }
    if (sink.failure() !== null) break;
    if (generated >= limit) {
      stopReason = 'count-reached';
      break;
    }
    const now = deps.now();
    const sinceStart = paceStart === null ? 0 : now - paceStart;
    if (plan.durationMs !== null && paceStart !== null && sinceStart >= plan.durationMs) {
      stopReason = 'duration-elapsed';
      break;
    }
    if (!sink.ready()) {
      const remaining = plan.durationMs === null || paceStart === null ? null : plan.durationMs - sinceStart;
      await until(sink.whenReady(), remaining, signal);
      continue;
    }
    // the schedule starts when the target first takes data, so connecting does not cause a burst
    if (paceStart === null) paceStart = now;
    let want = Math.min(limit - generated, plan.batchLines);
    if (plan.rate > 0) {
      const due = Math.floor((sinceStart * plan.rate) / 1000) + 1 - generated;
      if (due <= 0) {
        const nextDueMs = (generated * 1000) / plan.rate - sinceStart;
        const untilEnd = plan.durationMs === null ? Number.POSITIVE_INFINITY : plan.durationMs - sinceStart;
        await pause(Math.max(1, Math.min(nextDueMs, untilEnd)), signal);
        continue;
      }
      want = Math.min(want, due);
    }
    const batch = source.take(want, plan.batchChars);
    generated += batch.lines;
    sink.send(batch);
    // let socket events (drain, close, errors) and timers run between batches
    await nextTurn();
  }

  if (stopReason === 'aborted') sink.abandon('the run was stopped');
  await sink.finish();
  if (ticker !== null) clearInterval(ticker);

  const failure = sink.failure();
  let extraFailed = 0;
  if (failure !== null && stopReason !== 'aborted') {
    stopReason = failure.kind === 'output-failed' ? 'output-failed' : 'connection-lost';
    // the rest of the count was never written: report it, so sent + failed adds up to the count
    if (plan.count !== null) extraFailed = plan.count - generated;
  }
  const counts = sink.counts();
  const elapsedMs = deps.now() - startedAt;
  const summary: GeneratorSummary = {
    sent: counts.sent,
    failed: counts.failed + extraFailed,
    reconnects: counts.reconnects,
    generated,
    elapsedMs,
    ratePerSec: elapsedMs > 0 ? (counts.sent * 1000) / elapsedMs : 0,
    stopReason: stopReason ?? 'count-reached',
    error: failure,
    target,
  };
  onProgress?.(progress());
  return ok(summary);
}
