/**
 * Runs the app's saved searches the way the scheduler would: lines become events through the
 * search-time pipeline of props/transforms, then each detection's expanded SPL runs over them
 * at a given "now" (its earliest= / latest= window relative to it).
 */
import { Detection, INDEX, SOURCETYPE } from './app-conf';
import { parsePipeline, Row, runPipeline } from './spl-pipeline';
import { eventRow, SearchTimeConfig, SearchTimeEvent, searchTimeEvent } from './search-time';

/** Events as the search command sees them, from any sourcetype. */
export interface SearchableEvents {
  readonly rows: Row[];
  /** epoch seconds of the newest event */
  readonly lastTime: number;
}

export interface IndexedEvents extends SearchableEvents {
  readonly events: SearchTimeEvent[];
}

/** Rows made elsewhere (an add-on's events) with the time of the newest. */
export function searchableRows(rows: Row[]): SearchableEvents {
  let lastTime = Number.NEGATIVE_INFINITY;
  for (const r of rows) {
    const t = r.get('_time');
    if (typeof t === 'number' && t > lastTime) lastTime = t;
  }
  return { rows, lastTime };
}

export function indexLines(st: SearchTimeConfig, lines: readonly string[], year = 2024, host = '127.0.0.1'): IndexedEvents {
  const events = lines.map((l) => searchTimeEvent(st, l, { index: INDEX, sourcetype: SOURCETYPE, source: 'tcp:1514', host, year }));
  return { events, ...searchableRows(events.map(eventRow)) };
}

export function runDetection(d: Detection, indexed: SearchableEvents, now = Math.floor(indexed.lastTime) + 1): Row[] {
  if (d.expansion.problems.length > 0) throw new Error(`${d.name}: ${d.expansion.problems.map((p) => `${p.macro} ${p.message}`).join('; ')}`);
  return runPipeline(parsePipeline(d.expansion.text), indexed.rows, { now });
}
