import type { AddressFamily } from './addresses';
import { FORMATS, type FormatName } from './formats';
import { createRng } from './prng';
import { SCENARIOS, type AuthAttempt, type ScenarioName } from './scenarios';

/** Everything that decides the event text. Same spec => byte-identical lines, however they are batched. */
export interface LineSpec {
  readonly scenario: ScenarioName;
  readonly format: FormatName;
  readonly seed: number | string;
  /** epoch ms of the first event; scenario time advances from here */
  readonly startMs: number;
  readonly addressFamily: AddressFamily;
  /** host name written into the lines; the format's default when absent */
  readonly hostname?: string;
}

export interface LineBatch {
  /** the lines, each terminated by "\n" (newline framing for the TCP input) */
  readonly text: string;
  readonly lines: number;
}

/** What one take may hand out besides its line count. */
export interface TakeLimits {
  /** no more lines once the text reaches this many characters */
  readonly maxChars?: number;
  /** attempts whose scenario time is later than this wait for a later take */
  readonly untilMs?: number;
  /**
   * the time written on the lines of attempts rendered by this take, instead of their scenario
   * time (live sending: the moment of the write)
   */
  readonly stampMs?: number;
}

/** An endless, deterministic stream of event lines, handed out in batches. */
export interface LineSource {
  /** the next lines: at most `maxLines`, within the limits */
  take(maxLines: number, limits?: TakeLimits): LineBatch;
  /** scenario time of the attempt the next line belongs to; Infinity when the scenario has ended */
  nextTimeMs(): number;
}

export function createLineSource(spec: LineSpec): LineSource {
  const format = FORMATS[spec.format];
  const attempts = SCENARIOS[spec.scenario].attempts({
    rng: createRng(spec.seed),
    startMs: spec.startMs,
    family: spec.addressFamily,
    accounts: format.accounts,
  });
  const renderer = format.createRenderer(spec.hostname ?? format.defaultHostname);
  // one attempt can render to several lines; lines beyond a batch's end wait here for the next batch
  const queue: string[] = [];
  let head = 0;
  /** scenario time of the attempt whose lines are queued */
  let queuedTimeMs = Number.NaN;
  /** drawn from the scenario to look at its time, not rendered yet */
  let upcoming: AuthAttempt | null = null;
  const peek = (): AuthAttempt | null => {
    if (upcoming === null) {
      const step = attempts.next();
      if (step.done !== true) upcoming = step.value;
    }
    return upcoming;
  };
  return {
    take(maxLines, limits = {}) {
      const maxChars = limits.maxChars ?? Number.POSITIVE_INFINITY;
      const untilMs = limits.untilMs ?? Number.POSITIVE_INFINITY;
      const stampMs = limits.stampMs;
      let text = '';
      let lines = 0;
      while (lines < maxLines && text.length < maxChars) {
        if (head === queue.length) {
          queue.length = 0;
          head = 0;
          const next = peek();
          if (next === null || next.timeMs > untilMs) break;
          upcoming = null;
          queuedTimeMs = next.timeMs;
          renderer.render(stampMs === undefined ? next : { ...next, timeMs: stampMs }, queue);
          continue;
        }
        text += queue[head++] + '\n';
        lines++;
      }
      return { text, lines };
    },
    nextTimeMs() {
      if (head < queue.length) return queuedTimeMs;
      const next = peek();
      return next === null ? Number.POSITIVE_INFINITY : next.timeMs;
    },
  };
}

/** The first `count` lines of a spec as one string (for previews, files and tests). */
export function renderLines(spec: LineSpec, count: number): string {
  return createLineSource(spec).take(count).text;
}

/**
 * Where a scenario's timeline must start for its `count`-th line to fall on `endMs`: a dry pass
 * over the deterministic timeline (rendering included, since one attempt can make several lines).
 */
export function startForLastLineAt(spec: Omit<LineSpec, 'startMs'>, count: number, endMs: number): number {
  const origin = 0;
  const source = createLineSource({ ...spec, startMs: origin });
  for (let left = count - 1; left > 0; ) {
    const batch = source.take(Math.min(left, 4096));
    if (batch.lines === 0) break;
    left -= batch.lines;
  }
  const last = count > 0 ? source.nextTimeMs() : origin;
  return Number.isFinite(last) ? endMs - (last - origin) : endMs;
}
