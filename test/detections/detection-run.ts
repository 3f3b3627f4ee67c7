/**
 * Runs the app's saved searches the way the scheduler would: lines become events through the
 * search-time pipeline of props/transforms, then each detection's expanded SPL runs over them
 * at a given "now" (its earliest= / latest= window relative to it).
 */
import { Detection, INDEX, SOURCETYPE } from './app-conf';
import { parsePipeline, Row, runPipeline } from './spl-pipeline';
import { eventRow, SearchTimeConfig, SearchTimeEvent, searchTimeEvent } from './search-time';

export interface IndexedEvents {
  readonly events: SearchTimeEvent[];
  readonly rows: Row[];
  /** epoch seconds of the newest event */
  readonly lastTime: number;
}

export function indexLines(st: SearchTimeConfig, lines: readonly string[], year = 2024, host = '127.0.0.1'): IndexedEvents {
  const events = lines.map((l) => searchTimeEvent(st, l, { index: INDEX, sourcetype: SOURCETYPE, source: 'tcp:1514', host, year }));
  const rows = events.map(eventRow);
  let lastTime = Number.NEGATIVE_INFINITY;
  for (const e of events) if (e.stamp !== null && e.stamp.epochSeconds > lastTime) lastTime = e.stamp.epochSeconds;
  return { events, rows, lastTime };
}

export function runDetection(d: Detection, indexed: IndexedEvents, now = Math.floor(indexed.lastTime) + 1): Row[] {
  if (d.expansion.problems.length > 0) throw new Error(`${d.name}: ${d.expansion.problems.map((p) => `${p.macro} ${p.message}`).join('; ')}`);
  return runPipeline(parsePipeline(d.expansion.text), indexed.rows, { now });
}
