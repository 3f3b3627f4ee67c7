import assert from 'node:assert/strict';
import { parseMoment } from '../../src/generator/moment';

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0, 500);

describe('backfill times (--start / --end)', () => {
  const good: Array<[string, number]> = [
    ['now', NOW],
    [' now ', NOW],
    ['-30s', NOW - 30_000],
    ['-15m', NOW - 15 * 60_000],
    ['-4h', NOW - 4 * 3_600_000],
    ['-2d', NOW - 2 * 86_400_000],
    ['-0s', NOW],
    ['2026-12-06T10:00:00Z', Date.UTC(2026, 11, 6, 10)],
    ['2026-12-06T10:00Z', Date.UTC(2026, 11, 6, 10)],
    ['2026-12-06T10:00:00.25Z', Date.UTC(2026, 11, 6, 10, 0, 0, 250)],
    ['2026-12-06T11:00:00+01:00', Date.UTC(2026, 11, 6, 10)],
    ['2026-12-06T05:30:00-04:30', Date.UTC(2026, 11, 6, 10)],
    ['2026-12-06', Date.UTC(2026, 11, 6)],
    ['2024-02-29T23:59:59Z', Date.UTC(2024, 1, 29, 23, 59, 59)],
  ];
  for (const [text, want] of good) {
    it(`reads ${JSON.stringify(text)}`, () => {
      assert.deepEqual(parseMoment(text, NOW), { ok: true, value: want });
    });
  }

  const bad: Array<[string, RegExp]> = [
    ['2026-12-06T10:00:00', /has no zone: add Z for UTC or an offset such as \+01:00/],
    ['2026-02-30', /is not a date and time that exists/],
    ['2025-02-29T00:00:00Z', /is not a date and time that exists/],
    ['2026-12-06T24:00:00Z', /is not a date and time that exists/],
    ['2026-12-06T10:61:00Z', /is not a date and time that exists/],
    ['2026-12-06T10:00:00+25:00', /zone offset that does not exist/],
    ['+1h', /is not a time; use now, -30s, -15m, -4h, -2d, or ISO 8601/],
    ['4h', /is not a time/],
    ['-4 h', /is not a time/],
    ['-4w', /is not a time/],
    ['yesterday', /is not a time/],
    ['', /is not a time/],
    ['1733486400000', /is not a time/],
  ];
  for (const [text, message] of bad) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      const r = parseMoment(text, NOW);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.error.kind, 'invalid-moment');
        assert.match(r.error.message, message);
      }
    });
  }
});
