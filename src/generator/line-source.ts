import type { AddressFamily } from './addresses';
import { FORMATS, type FormatName } from './formats';
import { createRng } from './prng';
import { SCENARIOS, type ScenarioName } from './scenarios';

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

/** An endless, deterministic stream of event lines, handed out in batches. */
export interface LineSource {
  /** the next lines: at most `maxLines`, and no more once the text reaches `maxChars` */
  take(maxLines: number, maxChars?: number): LineBatch;
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
  return {
    take(maxLines, maxChars = Number.POSITIVE_INFINITY) {
      let text = '';
      let lines = 0;
      while (lines < maxLines && text.length < maxChars) {
        if (head === queue.length) {
          queue.length = 0;
          head = 0;
          const step = attempts.next();
          if (step.done === true) break;
          renderer.render(step.value, queue);
          continue;
        }
        text += queue[head++] + '\n';
        lines++;
      }
      return { text, lines };
    },
  };
}

/** The first `count` lines of a spec as one string (for previews, files and tests). */
export function renderLines(spec: LineSpec, count: number): string {
  return createLineSource(spec).take(count).text;
}
