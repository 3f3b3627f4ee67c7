import { createWriteStream } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';
import { fail, ok, type Failure, type Result } from '../result';
import { ADDRESS_FAMILIES, type AddressFamily } from './addresses';
import type { EventSink } from './event-sink';
import { FORMAT_NAMES, type FormatName } from './formats';
import { createLineSource, startForLastLineAt, type LineSpec } from './line-source';
import { SCENARIO_NAMES, scenarioNamed } from './scenarios';
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
  /**
   * 'live' (default): each event is sent when the scenario's clock (run `speed` times faster
   * than real time) reaches it, and stamped with the moment it is written. 'backfill': the
   * scenario's history up to `endMs`, written as fast as the target takes it, each event
   * stamped with its place on that history. Either way no event is stamped after it is written.
   */
  readonly mode?: 'live' | 'backfill';
  /** live: scenario seconds per real second (default 1; 60 = an attack's minute each second) */
  readonly speed?: number;
  /**
   * live: a fixed number of events per second instead of the scenario's own gaps (0 = as fast
   * as the connection takes them), for load tests; events are still stamped when written
   */
  readonly rate?: number;
  /** backfill: epoch ms the scenario starts at; without it the last of `count` events lands on endMs */
  readonly startMs?: number;
  /** backfill: epoch ms no event is later than (default: now); never in the future */
  readonly endMs?: number;
  /** events (lines) to send; with durationMs (or a backfill's end), whichever ends first */
  readonly count?: number;
  /** live: stop after this much real time */
  readonly durationMs?: number;
  /** 'ipv4' (default: known-bad public addresses where the scenario has them), 'ipv6' or 'any' */
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

/** end-reached: a backfill's next event would have been later than its end */
export type StopReason = 'count-reached' | 'duration-elapsed' | 'end-reached' | 'connection-lost' | 'output-failed' | 'aborted';

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
  /** a backfill's place in time: its scenario started at startMs, nothing later than endMs */
  readonly backfill: { readonly startMs: number; readonly endMs: number } | null;
}

/** The outside world the generator needs; nodeGeneratorDeps() gives the real one. */
export interface GeneratorDeps {
  /** monotonic milliseconds (pacing, duration, elapsed) */
  now(): number;
  /** epoch milliseconds: what live events are stamped with, and a backfill's "now" */
  wallClock(): number;
  /** resolves after `ms` of the monotonic clock, or early when the signal aborts */
  sleep(ms: number, signal: AbortSignal | undefined): Promise<void>;
  connect(host: string, port: number): Socket;
  openFile(path: string): Writable;
  /** where --dry-run writes (the CLI passes stdout) */
  readonly dryRunOutput?: Writable;
  readonly onProgress?: (progress: GeneratorProgress) => void;
  /** aborting stops generation; what is queued is still delivered if connected */
  readonly signal?: AbortSignal;
}

export function nodeGeneratorDeps(extra: Partial<Omit<GeneratorDeps, 'connect' | 'openFile'>> = {}): GeneratorDeps {
  return {
    now: () => performance.now(),
    wallClock: () => Date.now(),
    sleep: pause,
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

/** How events are placed in time. */
type Timing =
  | { readonly kind: 'live'; readonly pace: { readonly kind: 'scenario'; readonly speed: number } | { readonly kind: 'rate'; readonly perSecond: number } }
  | { readonly kind: 'backfill'; readonly startMs: number; readonly endMs: number };

interface Plan {
  readonly spec: LineSpec;
  readonly count: number | null;
  readonly durationMs: number | null;
  readonly timing: Timing;
  readonly batchLines: number;
  readonly batchChars: number;
  readonly progressIntervalMs: number;
  readonly output: { kind: 'tcp'; host: string; port: number; reconnect: ReconnectPolicy; maxWritesPerBatch: number } | { kind: 'file'; path: string } | { kind: 'dry-run' };
}

const isNonNegativeInteger = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0;
const isPositiveInteger = (n: unknown): n is number => isNonNegativeInteger(n) && n > 0;

const isoTime = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

/** The timing options checked; a backfill's start may still be open (it follows from count and end). */
function planTiming(
  options: GeneratorOptions,
  nowMs: number,
): Result<Extract<Timing, { kind: 'live' }> | { readonly kind: 'backfill'; readonly startMs: number | null; readonly endMs: number }> {
  const bad = (message: string) => fail('invalid-option', message);
  const { mode = 'live', speed, rate, startMs, endMs } = options;
  if (mode === 'live') {
    if (startMs !== undefined || endMs !== undefined) return bad('a start or end time places a backfill (--backfill); live sending stamps events with the moment they are sent');
    if (speed !== undefined && rate !== undefined) return bad("choose the scenario's own pace (speed) or a fixed rate, not both");
    if (rate !== undefined) {
      if (!(typeof rate === 'number' && Number.isFinite(rate) && rate >= 0)) {
        return bad(`rate must be a number of events per second >= 0 (0 = unthrottled), got ${String(rate)}`);
      }
      return ok({ kind: 'live', pace: { kind: 'rate', perSecond: rate } });
    }
    const factor = speed ?? 1;
    if (!(typeof factor === 'number' && Number.isFinite(factor) && factor > 0)) {
      return bad(`speed must be a number > 0 (1 = the scenario's own pace, 60 = a minute of it each second), got ${String(speed)}`);
    }
    return ok({ kind: 'live', pace: { kind: 'scenario', speed: factor } });
  }
  if (mode !== 'backfill') return bad(`unknown mode '${String(mode)}'; choose live or backfill`);
  if (speed !== undefined || rate !== undefined || options.durationMs !== undefined) {
    return bad('a backfill writes as fast as the target takes them: speed, rate and duration are for live sending');
  }
  const end = endMs ?? nowMs;
  if (!Number.isFinite(end)) return bad(`end time must be a finite epoch-milliseconds number, got ${String(endMs)}`);
  if (end > nowMs) return bad(`the end time ${isoTime(end)} is in the future (now is ${isoTime(nowMs)}): a backfill writes history, up to now at the latest`);
  if (startMs === undefined) {
    if (options.count === undefined) return bad('a backfill without a start time needs a count: the last event lands on the end time');
    return ok({ kind: 'backfill', startMs: null, endMs: Math.floor(end) });
  }
  if (!Number.isFinite(startMs)) return bad(`start time must be a finite epoch-milliseconds number, got ${String(startMs)}`);
  if (startMs > end) return bad(`the start time ${isoTime(startMs)} is after the end time ${isoTime(end)}`);
  return ok({ kind: 'backfill', startMs: Math.floor(startMs), endMs: Math.floor(end) });
}

/** Checks the options and resolves defaults; every message names the option and what is allowed. */
export function planRun(options: GeneratorOptions, deps: Pick<GeneratorDeps, 'dryRunOutput' | 'signal' | 'wallClock'>): Result<Plan> {
  const bad = (message: string) => fail('invalid-option', message);
  const scenario = scenarioNamed(options.scenario);
  if (scenario === null) {
    return bad(`unknown scenario '${options.scenario}'; choose one of: ${SCENARIO_NAMES.join(', ')}`);
  }
  if (!FORMAT_NAMES.includes(options.format as FormatName)) {
    return bad(`unknown format '${options.format}'; choose one of: ${FORMAT_NAMES.join(', ')}`);
  }
  const family = options.addressFamily ?? 'ipv4';
  if (!ADDRESS_FAMILIES.includes(family as AddressFamily)) {
    return bad(`unknown address family '${family}'; choose one of: ${ADDRESS_FAMILIES.join(', ')}`);
  }
  if (!((typeof options.seed === 'string' && options.seed.length > 0) || (typeof options.seed === 'number' && Number.isFinite(options.seed)))) {
    return bad('seed must be a non-empty text or a finite number');
  }
  if (options.count !== undefined && !isNonNegativeInteger(options.count)) {
    return bad(`count must be a whole number >= 0, got ${String(options.count)}`);
  }
  if (options.durationMs !== undefined && !(Number.isFinite(options.durationMs) && options.durationMs > 0)) {
    return bad(`duration must be a positive number of milliseconds, got ${String(options.durationMs)}`);
  }
  const timed = planTiming(options, deps.wallClock());
  if (!timed.ok) return timed;
  const asked = timed.value;
  const ends = options.count !== undefined || options.durationMs !== undefined || deps.signal !== undefined || asked.kind === 'backfill';
  if (!ends) return bad('give a count or a duration, or an abort signal to stop the run');
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

  const lines: Omit<LineSpec, 'startMs'> = {
    scenario,
    format: options.format as FormatName,
    seed: options.seed,
    addressFamily: family as AddressFamily,
    ...(options.hostname !== undefined ? { hostname: options.hostname } : {}),
  };
  let timing: Timing;
  if (asked.kind === 'live') {
    timing = asked;
  } else {
    // planTiming made sure a backfill without a start has a count
    const startMs = asked.startMs ?? startForLastLineAt(lines, options.count as number, asked.endMs);
    timing = { kind: 'backfill', startMs, endMs: asked.endMs };
  }
  // live events are stamped when written: there only the gaps of the scenario's timeline count
  const spec: LineSpec = { ...lines, startMs: timing.kind === 'backfill' ? timing.startMs : Math.floor(deps.wallClock()) };
  return ok({
    spec,
    count: options.count ?? null,
    durationMs: options.durationMs ?? null,
    timing,
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
    if (signal?.aborted === true) return resolve();
    // timers truncate fractions, which would wake a paced run a little before its event is due
    const timer = setTimeout(finish, Math.ceil(ms));
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
 * Runs one generation: produces lines from the scenario and format, places them in time, and
 * writes them in batches to the TCP input, a file or the dry-run stream.
 * - live, scenario pace: the line of scenario time s is due (s - s0) / speed after the target
 *   first takes data (s0: the first line's scenario time), stamped with the wall clock then;
 * - live, fixed rate: line i is due i / rate seconds after that (rate 0: as fast as the sink
 *   drains), stamped likewise;
 * - backfill: as fast as the sink drains, stamped with the scenario's own times, stopping
 *   before the first line later than the end.
 * Invalid options come back as `invalid-option`; a run that starts always yields a summary,
 * whose `error` tells why it ended early.
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
  /** scenario time of the first line */
  let origin = 0;
  const { timing } = plan;
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
    const nextTimeMs = source.nextTimeMs();
    // a backfill stops before its end; any run stops when the scenario has no next event (Infinity)
    if (nextTimeMs > (timing.kind === 'backfill' ? timing.endMs : Number.MAX_VALUE)) {
      stopReason = 'end-reached';
      break;
    }
    if (!sink.ready()) {
      const remaining = plan.durationMs === null || paceStart === null ? null : plan.durationMs - sinceStart;
      await until(sink.whenReady(), remaining, signal);
      continue;
    }
    // the schedule starts when the target first takes data, so connecting does not cause a burst
    if (paceStart === null) {
      paceStart = now;
      origin = nextTimeMs;
    }
    const untilEnd = plan.durationMs === null ? Number.POSITIVE_INFINITY : plan.durationMs - sinceStart;
    let want = Math.min(limit - generated, plan.batchLines);
    let untilMs = Number.POSITIVE_INFINITY;
    let stampMs: number | undefined;
    if (timing.kind === 'backfill') {
      untilMs = timing.endMs;
    } else {
      if (timing.pace.kind === 'scenario') {
        const { speed } = timing.pace;
        const dueMs = (nextTimeMs - origin) / speed;
        if (dueMs > sinceStart) {
          await deps.sleep(Math.min(dueMs - sinceStart, untilEnd), signal);
          continue;
        }
        // everything due by now; at least the line found due (the division above and this
        // product may round apart)
        untilMs = Math.max(nextTimeMs, origin + sinceStart * speed);
      } else if (timing.pace.perSecond > 0) {
        const rate = timing.pace.perSecond;
        const due = Math.floor((sinceStart * rate) / 1000) + 1 - generated;
        if (due <= 0) {
          const nextDueMs = (generated * 1000) / rate - sinceStart;
          await deps.sleep(Math.max(1, Math.min(nextDueMs, untilEnd)), signal);
          continue;
        }
        want = Math.min(want, due);
      }
      // read right before the write, so no live event is stamped later than it is written
      stampMs = deps.wallClock();
    }
    const batch = source.take(want, { maxChars: plan.batchChars, untilMs, stampMs });
    generated += batch.lines;
    if (batch.lines > 0) sink.send(batch);
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
    backfill: timing.kind === 'backfill' ? { startMs: timing.startMs, endMs: timing.endMs } : null,
  };
  onProgress?.(progress());
  return ok(summary);
}
