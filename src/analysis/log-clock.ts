/**
 * Turning log wall-clock times into epoch milliseconds. Classic syslog lines
 * ("Dec 10 06:55:46") carry neither year nor zone: the caller supplies the zone, and either the
 * year or the time the log is read, from which each line's year follows as syslog readers
 * infer it. The clock is passed into the classifier instead of being read from the environment.
 */
import { Result, ok, fail } from '../result';

export interface LogClock {
  /** Epoch ms of a syslog time (month 1-12), which has no year of its own: the clock supplies it. */
  yearlessToEpochMs(month: number, day: number, hour: number, minute: number, second: number): number;
  /** Epoch ms of a wall-clock time in the log's time zone (month 1-12). */
  wallToEpochMs(year: number, month: number, day: number, hour: number, minute: number, second: number, millis: number): number;
}

interface ZoneOption {
  /** "UTC" (default), a fixed offset such as "+02:00" / "-0530", or an IANA zone such as "Europe/Berlin". */
  readonly timeZone?: string;
}

/** The year is given: the year of the first syslog line. */
export interface GivenYearOptions extends ZoneOption {
  readonly year: number;
  /**
   * Follow a log across New Year: when the month falls back by six or more (Dec -> Jan) the
   * year advances. Stateful, so use one clock per file read in order. Default false.
   */
  readonly rollover?: boolean;
}

/**
 * The year is inferred from the time the log is read (epoch ms), as syslog readers do: each
 * line goes in the reading year, or in the year before when that would put it more than
 * FUTURE_TOLERANCE_MS after the reading time (a log holds no lines from the future).
 * Stateless: a log running from December into January, read in January, gets its December
 * lines in the old year line by line.
 */
export interface InferredYearOptions extends ZoneOption {
  readonly readAtMs: number;
}

export type LogClockOptions = GivenYearOptions | InferredYearOptions;

/**
 * How far after the reading time a yearless date may fall and stay in the reading year: one
 * day, the future Splunk accepts by default (props.conf MAX_DAYS_HENCE = 2 "includes dates from
 * one day in the future"). It covers a writer's clock running ahead and a log written in a zone
 * ahead of the one it is read in (UTC+14 read as UTC); a date further ahead is last year's.
 */
export const FUTURE_TOLERANCE_MS = 86_400_000;

export type LogClockError = 'invalid_year' | 'invalid_time_zone' | 'invalid_read_time';

const HOUR_MS = 3_600_000;

export function createLogClock(options: LogClockOptions): Result<LogClock, LogClockError> {
  const zone = zoneToHourStart(options.timeZone ?? 'UTC');
  if (!zone.ok) return zone;
  const hourStart = zone.value;
  const wallToEpochMs = (y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number =>
    hourStart(y, mo, d, h) + mi * 60_000 + s * 1000 + ms;

  if (!('year' in options)) {
    const readAt = options.readAtMs;
    if (!Number.isFinite(readAt) || readAt < 0) {
      return fail('invalid_read_time', `the reading time must be a time after 1970 (got ${String(readAt)})`);
    }
    return ok({ yearlessToEpochMs: inferredYear(readAt + FUTURE_TOLERANCE_MS, wallToEpochMs), wallToEpochMs });
  }
  const { year } = options;
  if (!Number.isInteger(year) || year < 1970 || year > 9999) {
    return fail('invalid_year', `year must be a four-digit year from 1970 on (got ${String(year)})`);
  }
  const yearFor = options.rollover === true ? rolloverYear(year) : () => year;
  return ok({
    yearlessToEpochMs: (mo, d, h, mi, s) => wallToEpochMs(yearFor(mo), mo, d, h, mi, s, 0),
    wallToEpochMs,
  });
}

type WallToEpochMs = (y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number) => number;

/** The year of each line of a log whose first line is in `year`, moving on at New Year. */
function rolloverYear(year: number): (month: number) => number {
  let current = year;
  let lastMonth = 0;
  return (month) => {
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
  };
}

/**
 * The latest year that puts a yearless time at or before `latestMs`. Per calendar day the
 * year is found once (consecutive lines share their day): the latest year whose start of that
 * day is not past `latestMs`; only on the day `latestMs` falls in do the times after it go
 * to the year before. February 29 goes only in leap years.
 */
function inferredYear(latestMs: number, wallToEpochMs: WallToEpochMs): LogClock['yearlessToEpochMs'] {
  // One year past latestMs's own covers a zone far ahead of UTC at New Year.
  const newest = new Date(latestMs).getUTCFullYear() + 1;
  let lastKey = -1;
  let dayYear = 0;
  let yearBefore = 0;
  let dayHoldsLatest = false;
  return (mo, d, h, mi, s) => {
    const key = mo * 32 + d;
    if (key !== lastKey) {
      lastKey = key;
      const exists = (y: number): boolean => mo !== 2 || d !== 29 || (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0));
      dayYear = newest;
      while (dayYear > 1970 && (!exists(dayYear) || wallToEpochMs(dayYear, mo, d, 0, 0, 0, 0) > latestMs)) dayYear -= 1;
      yearBefore = dayYear - 1;
      while (yearBefore > 1970 && !exists(yearBefore)) yearBefore -= 1;
      // 23:59:60.999: a leap second is the day's last moment.
      dayHoldsLatest = wallToEpochMs(dayYear, mo, d, 23, 59, 60, 999) > latestMs;
    }
    const t = wallToEpochMs(dayYear, mo, d, h, mi, s, 0);
    return dayHoldsLatest && t > latestMs ? wallToEpochMs(yearBefore, mo, d, h, mi, s, 0) : t;
  };
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
