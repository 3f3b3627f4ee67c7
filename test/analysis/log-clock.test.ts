import { strict as assert } from 'node:assert';
import { createLogClock, FUTURE_TOLERANCE_MS, LogClock } from '../../src/analysis/log-clock';
import { classifyAuthLine } from '../../src/analysis/authlog';
import { corpusText } from './corpus';

function clockOf(...args: Parameters<typeof createLogClock>): LogClock {
  const r = createLogClock(...args);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  return r.value;
}

describe('analysis/log-clock', () => {
  // "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186"
  const firstLine = corpusText('sshd', 'loghub_SSH_2k.log').split('\n')[1]!;

  it('places a yearless syslog time in the given year, UTC by default', () => {
    const e = classifyAuthLine(firstLine, clockOf({ year: 2017 }));
    assert.equal(e!.timeMs, Date.UTC(2017, 11, 10, 6, 55, 46));
  });

  it('applies fixed offsets', () => {
    const plus = classifyAuthLine(firstLine, clockOf({ year: 2017, timeZone: '+05:30' }));
    assert.equal(plus!.timeMs, Date.UTC(2017, 11, 10, 1, 25, 46));
    const minus = classifyAuthLine(firstLine, clockOf({ year: 2017, timeZone: '-0800' }));
    assert.equal(minus!.timeMs, Date.UTC(2017, 11, 10, 14, 55, 46));
  });

  it('applies IANA zones including daylight saving time', () => {
    const berlin = clockOf({ year: 2024, timeZone: 'Europe/Berlin' });
    assert.equal(berlin.wallToEpochMs(2024, 1, 15, 12, 0, 0, 0), Date.UTC(2024, 0, 15, 11, 0, 0)); // CET +1
    assert.equal(berlin.wallToEpochMs(2024, 7, 15, 12, 30, 5, 250), Date.UTC(2024, 6, 15, 10, 30, 5, 250)); // CEST +2
    // The hour after the spring-forward gap (03:00 CEST on 31 March 2024).
    assert.equal(berlin.wallToEpochMs(2024, 3, 31, 3, 0, 0, 0), Date.UTC(2024, 2, 31, 1, 0, 0));
    const ny = clockOf({ year: 2024, timeZone: 'America/New_York' });
    assert.equal(ny.wallToEpochMs(2024, 12, 10, 6, 55, 46, 0), Date.UTC(2024, 11, 10, 11, 55, 46));
  });

  it('keeps the year fixed unless rollover is asked for', () => {
    const fixed = clockOf({ year: 2023 });
    assert.equal(fixed.yearlessToEpochMs(12, 31, 0, 0, 0), Date.UTC(2023, 11, 31));
    assert.equal(fixed.yearlessToEpochMs(1, 1, 0, 0, 0), Date.UTC(2023, 0, 1));
  });

  it('advances the year across New Year with rollover, and keeps stragglers in the old year', () => {
    const c = clockOf({ year: 2023, rollover: true });
    const dec = classifyAuthLine('Dec 31 23:59:58 h sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2', c);
    const jan = classifyAuthLine('Jan  1 00:00:03 h sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2', c);
    const late = classifyAuthLine('Dec 31 23:59:59 h sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2', c);
    const feb = classifyAuthLine('Feb  1 00:00:00 h sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2', c);
    assert.equal(dec!.timeMs, Date.UTC(2023, 11, 31, 23, 59, 58));
    assert.equal(jan!.timeMs, Date.UTC(2024, 0, 1, 0, 0, 3));
    assert.equal(late!.timeMs, Date.UTC(2023, 11, 31, 23, 59, 59));
    assert.equal(feb!.timeMs, Date.UTC(2024, 1, 1));
  });

  describe('without a year: the year that puts a line at most a day after the reading time', () => {
    const line = (stamp: string): string => `${stamp} h sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2`;
    const at = (readAt: string, stamp: string, timeZone?: string): string =>
      new Date(classifyAuthLine(line(stamp), clockOf({ readAtMs: Date.parse(readAt), timeZone }))!.timeMs).toISOString();

    it('places a date that would fall in the future in the previous year', () => {
      assert.equal(at('2025-03-01T12:00:00Z', 'Mar  5 10:00:00'), '2024-03-05T10:00:00.000Z');
      assert.equal(at('2025-03-01T12:00:00Z', 'Dec 31 23:00:00'), '2024-12-31T23:00:00.000Z');
      assert.equal(at('2025-03-01T12:00:00Z', 'Feb 28 10:00:00'), '2025-02-28T10:00:00.000Z', 'a past date stays in this year');
    });

    it('allows a day of clock skew and zone difference, not a second more', () => {
      assert.equal(FUTURE_TOLERANCE_MS, 86_400_000);
      assert.equal(at('2025-03-01T12:00:00Z', 'Mar  2 12:00:00'), '2025-03-02T12:00:00.000Z');
      assert.equal(at('2025-03-01T12:00:00Z', 'Mar  2 12:00:01'), '2024-03-02T12:00:01.000Z');
      // The same wall time in a zone two hours ahead is two hours earlier: still within the day.
      assert.equal(at('2025-03-01T12:00:00Z', 'Mar  2 13:00:01', '+02:00'), '2025-03-02T11:00:01.000Z');
    });

    it('reads a log that crosses New Year line by line, stragglers included', () => {
      const readAt = '2025-01-01T00:10:00Z';
      assert.deepEqual(
        ['Dec 31 23:59:58', 'Jan  1 00:00:03', 'Dec 31 23:59:59', 'Jan  1 00:05:00'].map((stamp) => at(readAt, stamp)),
        ['2024-12-31T23:59:58.000Z', '2025-01-01T00:00:03.000Z', '2024-12-31T23:59:59.000Z', '2025-01-01T00:05:00.000Z'],
      );
      // Read in March, a December-to-February log keeps its order.
      assert.deepEqual(
        ['Dec  1 00:00:00', 'Jan 15 00:00:00', 'Feb 20 00:00:00'].map((stamp) => at('2025-03-10T00:00:00Z', stamp)),
        ['2024-12-01T00:00:00.000Z', '2025-01-15T00:00:00.000Z', '2025-02-20T00:00:00.000Z'],
      );
      // New Year in a zone ahead of UTC comes before the UTC year turns.
      assert.equal(at('2025-12-31T23:00:00Z', 'Jan  1 00:20:00', '+02:00'), '2025-12-31T22:20:00.000Z');
    });

    it('is the same whatever came before (no state), and puts February 29 in a leap year', () => {
      const c = clockOf({ readAtMs: Date.UTC(2025, 5, 1) });
      const first = c.yearlessToEpochMs(7, 4, 12, 0, 0);
      c.yearlessToEpochMs(1, 1, 0, 0, 0);
      assert.equal(c.yearlessToEpochMs(7, 4, 12, 0, 0), first);
      assert.equal(first, Date.UTC(2024, 6, 4, 12));
      assert.equal(c.yearlessToEpochMs(2, 29, 12, 0, 0), Date.UTC(2024, 1, 29, 12));
    });

    it('rejects a reading time that is no time', () => {
      for (const readAtMs of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
        const r = createLogClock({ readAtMs });
        assert.ok(!r.ok);
        assert.equal(r.error.kind, 'invalid_read_time');
        assert.match(r.error.message, /reading time/);
      }
    });
  });

  it('rejects a year that is not a four-digit year', () => {
    for (const year of [0, 1969, 2024.5, 10000, Number.NaN]) {
      const r = createLogClock({ year });
      assert.ok(!r.ok);
      assert.equal(r.error.kind, 'invalid_year');
      assert.match(r.error.message, /four-digit year/);
    }
  });

  it('rejects unknown zones and impossible offsets with a hint', () => {
    const bad = createLogClock({ year: 2024, timeZone: 'Mars/Olympus_Mons' });
    assert.ok(!bad.ok);
    assert.equal(bad.error.kind, 'invalid_time_zone');
    assert.match(bad.error.message, /IANA name like Europe\/Berlin/);
    const far = createLogClock({ year: 2024, timeZone: '+19:00' });
    assert.ok(!far.ok);
    assert.equal(far.error.kind, 'invalid_time_zone');
  });
});
