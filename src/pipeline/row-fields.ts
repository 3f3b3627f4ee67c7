/**
 * Values read from a result row, cut at the edge: a search can output megabytes in one field,
 * and a row is attacker-influenced (its values came through log lines).
 */
import { capCell } from '../respond/safe-text';
import { ownValue } from '../splunk/field-map';
import type { ResultFields } from '../splunk/results-file';

/** One value read from a result row is at most this long. */
export const MAX_ROW_VALUE_CHARS = 4096;
/** A list read from a row (the users tried) holds at most this many values, and this many characters in all. */
export const MAX_ROW_LIST_VALUES = 1000;
export const MAX_ROW_LIST_CHARS = 64 * 1024;

/** A value cut at the edge, with a marker saying how long it was. */
function cappedValue(v: string): string {
  return v.length <= MAX_ROW_VALUE_CHARS ? v : capCell(v, MAX_ROW_VALUE_CHARS);
}

/** The first of `names` the row has a non-blank value for (a list joined with commas). */
export function rowText(row: ResultFields, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = ownValue(row, n);
    if (v === undefined) continue;
    // Cut before joining and trimming: a 30 MB field must not be copied around first.
    const s = typeof v === 'string' ? cappedValue(v) : cappedValue(v.slice(0, MAX_ROW_LIST_VALUES).map(cappedValue).join(','));
    if (s.trim() !== '') return s.trim();
  }
  return undefined;
}

/** The values of the first of `names` the row has values for. */
export function rowValues(row: ResultFields, ...names: string[]): string[] {
  for (const n of names) {
    const v = ownValue(row, n);
    if (v === undefined) continue;
    const list: string[] = [];
    let chars = 0;
    for (const x of typeof v === 'string' ? [v] : v) {
      if (x === '') continue;
      const kept = cappedValue(x);
      if (list.length >= MAX_ROW_LIST_VALUES || chars + kept.length > MAX_ROW_LIST_CHARS) break;
      list.push(kept);
      chars += kept.length;
    }
    if (list.length > 0) return list;
  }
  return [];
}

/** Splunk times arrive as epoch seconds ("1764000000.123") or as text; keep text as given. */
export function rowTime(row: ResultFields, ...names: string[]): string | null {
  const t = rowText(row, ...names);
  if (t === undefined) return null;
  if (/^\d{9,11}(\.\d+)?$/.test(t)) return new Date(Number(t) * 1000).toISOString();
  return t;
}
