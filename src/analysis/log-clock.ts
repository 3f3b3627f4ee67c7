/**
 * Turning log wall-clock times into epoch milliseconds. Classic syslog lines
 * ("Dec 10 06:55:46") carry neither year nor zone, so the caller supplies both; the clock is
 * passed into the classifier instead of being read from the environment.
 */
import { Result, ok, fail } from '../result';

export interface LogClock {
  /** The year to use for a syslog timestamp of `month` (1-12), which has no year of its own. */
  yearFor(month: number): number;
  /** Epoch ms of a wall-clock time in the log's time zone (month 1-12). */
  wallToEpochMs(year: number, month: number, day: number, hour: number, minute: number, second: number, millis: number): number;
}

export interface LogClockOptions {
  /** Year of the first syslog line. */
  readonly year: number;
  /** "UTC" (default), a fixed offset such as "+02:00" / "-0530", or an IANA zone such as "Europe/Berlin". */
  readonly timeZone?: string;
  /**
   * Follow a log across New Year: when the month falls back by six or more (Dec -> Jan) the
   * year advances. Stateful, so use one clock per file read in order. Default false.
   */
  readonly rollover?: boolean;
}

export type LogClockError = 'invalid_year' | 'invalid_time_zone';

const HOUR_MS = 3_600_000;

export function createLogClock(options: LogClockOptions): Result<LogClock, LogClockError> {
  const { year } = options;
  if (!Number.isInteger(year) || year < 1970 || year > 9999) {
    return fail('invalid_year', `year must be a four-digit year from 1970 on (got ${String(year)})`);
  }
  const zone = zoneToHourStart(options.timeZone ?? 'UTC');
  if (!zone.ok) return zone;
  const hourStart = zone.value;
  const wallToEpochMs = (y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number =>
    hourStart(y, mo, d, h) + mi * 60_000 + s * 1000 + ms;

  if (options.rollover !== true) {
    return ok({ yearFor: () => year, wallToEpochMs });
  }
  let current = year;
  let lastMonth = 0;
  return ok({
    yearFor(month: number): number {
      if (lastMonth === 0) {
        lastMonth = month;
      } else if (lastMonth - month >= 6) {
        current += 1;
        lastMonth = month;
      } else if (month - lastMonth >= 6) {
        // A straggler from before the turn of the year (e.g. a late December line after January).
        return current - 1;
      } else {
        lastMonth = month;
      }
      return current;
    },
    wallToEpochMs,
  });
}

type HourStart = (year: number, month: number, day: number, hour: number) => number;

const FIXED_OFFSET = /^([+-])(\d{2}):?(\d{2})?$/;

function zoneToHourStart(timeZone: string): Result<HourStart, LogClockError> {
  const tz = timeZone.trim();
  if (tz === '' || /^(utc|gmt|z)$/i.test(tz)) return ok(fixedOffset(0));
  const m = FIXED_OFFSET.exec(tz);
  if (m) {
    const minutes = Number(m[2]) * 60 + Number(m[3] ?? '0');
    if (minutes > 18 * 60) return fail('invalid_time_zone', `time zone offset ${tz} is beyond +/-18:00`);
    return ok(fixedOffset((m[1] === '-' ? -1 : 1) * minutes));
  }
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    return fail('invalid_time_zone', `unknown time zone "${tz}": use UTC, an offset like +02:00, or an IANA name like Europe/Berlin`);
  }
  return ok(zonedHourStart(format));
}

function fixedOffset(offsetMinutes: number): HourStart {
  const offsetMs = offsetMinutes * 60_000;
  // Date.UTC per line is measurable at millions of lines per second; days repeat a lot.
  // Consecutive lines are nearly always on the same day: check the last one before the Map.
  const dayStart = new Map<number, number>();
  let lastKey = NaN;
  let lastStart = 0;
  return (y, mo, d, h) => {
    const key = (y * 13 + mo) * 32 + d;
    if (key === lastKey) return lastStart + h * HOUR_MS;
    let start = dayStart.get(key);
    if (start === undefined) {
      if (dayStart.size > 100_000) dayStart.clear();
      start = Date.UTC(y, mo - 1, d) - offsetMs;
      dayStart.set(key, start);
    }
    lastKey = key;
    lastStart = start;
    return start + h * HOUR_MS;
  };
}

function zonedHourStart(format: Intl.DateTimeFormat): HourStart {
  const offsetAt = (utcMs: number): number => {
    const p: Record<string, number> = {};
    for (const part of format.formatToParts(new Date(utcMs))) {
      if (part.type !== 'literal') p[part.type] = Number(part.value);
    }
    const asUtc = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour! % 24, p.minute!, p.second!);
    return asUtc - (utcMs - (((utcMs % 1000) + 1000) % 1000));
  };
  const cache = new Map<number, number>();
  let lastKey = NaN;
  let lastStart = 0;
  return (y, mo, d, h) => {
    const key = ((y * 13 + mo) * 32 + d) * 24 + h;
    if (key === lastKey) return lastStart;
    let start = cache.get(key);
    if (start === undefined) {
      if (cache.size > 200_000) cache.clear();
      const guess = Date.UTC(y, mo - 1, d, h);
      const first = offsetAt(guess);
      start = guess - first;
      const second = offsetAt(start);
      // Around a DST change the offset at the guess and at the result differ; the second wins.
      if (second !== first) start = guess - second;
      cache.set(key, start);
    }
    lastKey = key;
    lastStart = start;
    return start;
  };
}
