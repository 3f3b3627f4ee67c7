/**
 * Progress of a bulk reputation run: how long the rest will take, and the bar that shows
 * it on a terminal.
 *
 * The estimate replays the shared quota limiter's own rule (decideQuota) on a copy of its
 * state: with VirusTotal's public 4 requests a minute, 50 addresses take about 12 minutes
 * however fast each request is, and a rate measured from the first four (answered in a
 * second) would promise a few seconds. Other processes on the host (the alert action)
 * spend the same budget, so the estimate is made again after every lookup.
 *
 * The bar is drawn only when stderr is a terminal; piped or redirected output gets no
 * progress and no control sequences.
 */
import { SingleBar } from 'cli-progress';
import { decideQuota, QuotaLimits, QuotaState } from '../intel/quota-limiter';

/** Requests a provider still has to make, and the limiter state they must fit into. */
export interface ProviderBacklog {
  readonly provider: string;
  readonly requests: number;
  readonly state: QuotaState;
  readonly limits: QuotaLimits;
}

export interface FinishEstimate {
  /** When the last request is expected to be answered, epoch ms. */
  readonly finishMs: number;
  /** Requests that cannot go out before `untilMs` (daily limit, long penalty, the wait bound). */
  readonly beyondBound: number;
  /** The earliest time the limiter lets the next request of the busiest provider out. */
  readonly nextSlotMs: number;
}

/**
 * When `requests` requests to one provider will have been answered, starting at `nowMs`, if
 * each takes `requestMs` and the limiter (with `state`) decides every grant; requests whose
 * slot frees only after `untilMs` are counted in `beyondBound` instead. Pure.
 */
export function scheduleRequests(backlog: ProviderBacklog, nowMs: number, requestMs: number, untilMs: number): FinishEstimate {
  let state: QuotaState = { ...backlog.state, minute: [...backlog.state.minute] };
  let t = nowMs;
  let finishMs = nowMs;
  let nextSlotMs: number | undefined;
  for (let i = 0; i < backlog.requests; i++) {
    // Each step either grants or jumps to the time the blocking window ends: bounded by the requests.
    for (;;) {
      const step = decideQuota(state, backlog.limits, t);
      if (step.decision.granted) {
        state = step.state;
        break;
      }
      if (step.decision.availableAtMs > untilMs) {
        return { finishMs, beyondBound: backlog.requests - i, nextSlotMs: nextSlotMs ?? step.decision.availableAtMs };
      }
      t = Math.max(t + 1, step.decision.availableAtMs);
    }
    nextSlotMs ??= t;
    finishMs = t + requestMs;
    t = finishMs;
  }
  return { finishMs, beyondBound: 0, nextSlotMs: nextSlotMs ?? nowMs };
}

/**
 * The run's finish: providers are asked side by side for each target, so the slowest
 * provider decides. `requestMs` is the observed time per request (a guess before the first).
 */
export function estimateFinish(backlogs: readonly ProviderBacklog[], nowMs: number, requestMs: number, untilMs: number): FinishEstimate {
  let finishMs = nowMs;
  let beyondBound = 0;
  let nextSlotMs = nowMs;
  for (const b of backlogs) {
    if (b.requests <= 0) continue;
    const e = scheduleRequests(b, nowMs, requestMs, untilMs);
    if (e.finishMs > finishMs) finishMs = e.finishMs;
    if (e.beyondBound > beyondBound) beyondBound = e.beyondBound;
    if (e.nextSlotMs > nextSlotMs) nextSlotMs = e.nextSlotMs;
  }
  return { finishMs, beyondBound, nextSlotMs };
}

/** 75 s → "1m15s", 3,700 s → "1h01m", under a second → "0s". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export interface ProgressState {
  readonly done: number;
  readonly total: number;
  readonly nowMs: number;
  readonly estimate: FinishEstimate;
  /** Set while the run waits for a quota slot: until when, and for which provider. */
  readonly waiting?: { readonly provider: string; readonly untilMs: number };
  /** The target being looked up. */
  readonly current?: string;
}

/** The text after the bar, e.g. "12/50 · waiting for VirusTotal 38s · ETA 9m45s". Pure. */
export function progressDetail(p: ProgressState): string {
  const parts = [`${p.done}/${p.total}`];
  if (p.waiting && p.waiting.untilMs > p.nowMs) parts.push(`waiting for ${p.waiting.provider} ${formatDuration(p.waiting.untilMs - p.nowMs)}`);
  else if (p.current) parts.push(p.current.length > 40 ? `${p.current.slice(0, 39)}…` : p.current);
  const left = p.total - p.done;
  if (left > 0) {
    const eta = `ETA ${formatDuration(p.estimate.finishMs - p.nowMs)}`;
    parts.push(p.estimate.beyondBound > 0 ? `${eta} (${p.estimate.beyondBound} will be deferred: quota)` : eta);
  }
  return parts.join(' · ');
}

/** What the run loop tells the display. */
export interface ProgressDisplay {
  update(state: ProgressState): void;
  stop(): void;
}

export const NO_PROGRESS: ProgressDisplay = { update: () => undefined, stop: () => undefined };

/**
 * A bar on `stream` when it is a terminal, nothing otherwise. The bar is cleared when the
 * run ends so the result table starts on a clean line.
 */
export function progressDisplay(stream: NodeJS.WritableStream & { isTTY?: boolean }): ProgressDisplay {
  if (stream.isTTY !== true) return NO_PROGRESS;
  const bar = new SingleBar({
    stream,
    format: 'reputation {bar} {detail}',
    barsize: 24,
    hideCursor: true,
    clearOnComplete: true,
    linewrap: false,
    fps: 5,
    etaBuffer: 1,
  });
  let started = false;
  return {
    update(state) {
      const payload = { detail: progressDetail(state) };
      if (!started) {
        bar.start(Math.max(1, state.total), state.done, payload);
        started = true;
      } else {
        bar.update(state.done, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
