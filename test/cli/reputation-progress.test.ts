import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { estimateFinish, formatDuration, progressDetail, progressDisplay, scheduleRequests } from '../../src/cli/reputation-progress';
import { DEFAULT_QUOTA_LIMITS, QuotaState, utcDay } from '../../src/intel/quota-limiter';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const empty = (nowMs: number): QuotaState => ({ minute: [], day: utcDay(nowMs), dayCount: 0, penaltyUntilMs: 0 });
const vt = (state: QuotaState, requests: number) => ({ provider: 'virustotal', requests, state, limits: DEFAULT_QUOTA_LIMITS.virustotal });
const HOUR = 3_600_000;

/** A stream that says it is a terminal and keeps what is written. */
class FakeTerminal extends Writable {
  isTTY = true;
  columns = 120;
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe('reputation progress: the estimate counts the limiter\'s waits', () => {
  it('10 requests at the public 4/min take two minutes and more, not ten seconds', () => {
    const e = scheduleRequests(vt(empty(T0), 10), T0, 1_000, T0 + HOUR);
    // Grants at 0,1,2,3 s; the 5th waits for the first to leave the window (60 s), then 61,62,63; 120,121.
    assert.equal(e.finishMs - T0, 122_000);
    assert.equal(e.beyondBound, 0);
    assert.equal(e.nextSlotMs, T0);
  });

  it('slots already spent by other processes on the host (the alert action) delay the first request', () => {
    const state: QuotaState = { ...empty(T0), minute: [T0 - 50_000, T0 - 40_000, T0 - 30_000, T0 - 20_000], dayCount: 4 };
    const e = scheduleRequests(vt(state, 1), T0, 500, T0 + HOUR);
    assert.equal(e.nextSlotMs, T0 + 10_000);
    assert.equal(e.finishMs, T0 + 10_500);
  });

  it('what cannot go out before the wait bound (daily limit, a 429 penalty) is counted as deferred', () => {
    const day: QuotaState = { ...empty(T0), dayCount: 498 };
    const e = scheduleRequests(vt(day, 5), T0, 1_000, T0 + HOUR);
    assert.equal(e.beyondBound, 3);
    const penalty: QuotaState = { ...empty(T0), penaltyUntilMs: T0 + 2 * HOUR };
    assert.equal(scheduleRequests(vt(penalty, 2), T0, 1_000, T0 + HOUR).beyondBound, 2);
    // Within the bound a penalty is a wait.
    const short = scheduleRequests(vt({ ...empty(T0), penaltyUntilMs: T0 + 30_000 }, 1), T0, 1_000, T0 + HOUR);
    assert.equal(short.finishMs, T0 + 31_000);
  });

  it('the slowest provider decides: AbuseIPDB has no per-minute limit', () => {
    const abuse = { provider: 'abuseipdb', requests: 10, state: empty(T0), limits: DEFAULT_QUOTA_LIMITS.abuseipdb };
    assert.equal(estimateFinish([abuse], T0, 1_000, T0 + HOUR).finishMs - T0, 10_000);
    assert.equal(estimateFinish([abuse, vt(empty(T0), 10)], T0, 1_000, T0 + HOUR).finishMs - T0, 122_000);
    assert.equal(estimateFinish([], T0, 1_000, T0 + HOUR).finishMs, T0);
  });

  it('formats durations and the detail text', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(75_000), '1m15s');
    assert.equal(formatDuration(3_700_000), '1h01m');
    const estimate = scheduleRequests(vt(empty(T0), 10), T0, 1_000, T0 + HOUR);
    assert.equal(progressDetail({ done: 2, total: 12, nowMs: T0, estimate, current: '138.128.150.133' }), '2/12 · 138.128.150.133 · ETA 2m02s');
    assert.equal(
      progressDetail({ done: 6, total: 12, nowMs: T0, estimate, waiting: { provider: 'VirusTotal', untilMs: T0 + 38_000 } }),
      '6/12 · waiting for VirusTotal 38s · ETA 2m02s',
    );
    const deferred = scheduleRequests(vt({ ...empty(T0), dayCount: 499 }, 3), T0, 1_000, T0 + HOUR);
    assert.equal(progressDetail({ done: 0, total: 3, nowMs: T0, estimate: deferred }), '0/3 · ETA 1s (2 will be deferred: quota)');
    assert.equal(progressDetail({ done: 3, total: 3, nowMs: T0, estimate }), '3/3');
  });
});

describe('reputation progress: the bar only on a terminal', () => {
  const estimate = scheduleRequests(vt(empty(T0), 10), T0, 1_000, T0 + HOUR);

  it('draws on a TTY: the bar, the count and the ETA, then clears its line', () => {
    const term = new FakeTerminal();
    const display = progressDisplay(term);
    display.update({ done: 1, total: 10, nowMs: T0, estimate, current: '138.128.150.133' });
    display.stop();
    assert.match(term.text, /reputation [\u2588\u2591=-]+ 1\/10 · 138\.128\.150\.133 · ETA 2m02s/);
    // eslint-disable-next-line no-control-regex
    assert.match(term.text, /\x1b\[/, 'terminal control sequences expected on a TTY');
    // The last thing written clears the line, so the table starts clean.
    // eslint-disable-next-line no-control-regex
    assert.match(term.text, /\x1b\[2K$/);
  });

  it('writes nothing at all when the stream is not a terminal (piped, redirected)', () => {
    const piped = new FakeTerminal();
    piped.isTTY = false;
    const display = progressDisplay(piped);
    display.update({ done: 1, total: 10, nowMs: T0, estimate });
    display.update({ done: 2, total: 10, nowMs: T0, estimate });
    display.stop();
    assert.equal(piped.text, '');
  });
});
