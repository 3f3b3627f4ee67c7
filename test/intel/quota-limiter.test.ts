import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DEFAULT_QUOTA_LIMITS, nextUtcMidnight, QuotaDecision, QuotaLimiter, QuotaState, releaseQuota } from '../../src/intel/quota-limiter';
import { dataLayout } from '../../src/store/data-dir';

const LIMITER_JS = path.resolve(__dirname, '../../src/intel/quota-limiter.js');
const T0 = Date.parse('2026-11-24T12:00:00Z');

interface Child {
  /** Resolves when the child printed "ready". */
  readonly ready: Promise<void>;
  go(): void;
  readonly done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** A node process that prints "ready\n", waits for a line on stdin, then runs its work. */
function startChild(script: string): Child {
  const c = spawn(process.execPath, ['-e', script]);
  let stdout = '';
  let stderr = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  c.stdout.on('data', (d: Buffer) => {
    stdout += d;
    if (stdout.startsWith('ready\n')) markReady();
  });
  c.stderr.on('data', (d: Buffer) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    c.on('close', (code) => {
      markReady();
      resolve({ code, stdout: stdout.replace(/^ready\n/, ''), stderr });
    }),
  );
  return { ready, go: () => c.stdin.end('go\n'), done };
}

/** Start `count` children of `script` together, let them go at once; their stdouts, each having exited 0. */
async function runTogether(script: string, count: number): Promise<string[]> {
  const children = Array.from({ length: count }, () => startChild(script));
  await Promise.all(children.map((c) => c.ready));
  for (const c of children) c.go();
  const results = await Promise.all(children.map((c) => c.done));
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  return results.map((r) => r.stdout);
}

describe('intel/quota-limiter', () => {
  let root: string;
  let dir: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-quota-'));
    dir = dataLayout(root).quota;
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const granted = (d: QuotaDecision): Extract<QuotaDecision, { granted: true }> => {
    assert.ok(d.granted, JSON.stringify(d));
    return d;
  };

  describe('giving back a slot whose request never reached the provider', () => {
    it('releaseQuota (pure): one grant of that time leaves the window; the day count drops only for the same UTC day, never below 0', () => {
      const state: QuotaState = { minute: [T0, T0, T0 + 5], day: '2026-11-24', dayCount: 3, penaltyUntilMs: 0 };
      assert.deepEqual(releaseQuota(state, T0), { minute: [T0, T0 + 5], day: '2026-11-24', dayCount: 2, penaltyUntilMs: 0 });
      // A grant already out of the minute window still comes off the day.
      assert.deepEqual(releaseQuota(state, T0 - 120_000), { ...state, dayCount: 2 });
      // A grant of yesterday: today's count stays.
      assert.deepEqual(releaseQuota(state, T0 - 86_400_000), state);
      assert.equal(releaseQuota({ ...state, dayCount: 0 }, T0).dayCount, 0);
    });

    it('release gives the slot back to every limiter on the folder, once per grant', () => {
      const a = new QuotaLimiter(dir);
      const b = new QuotaLimiter(dir);
      for (let i = 0; i < 3; i++) a.tryAcquire('virustotal', T0 + i);
      const lost = granted(a.tryAcquire('virustotal', T0 + 10));
      assert.equal(b.tryAcquire('virustotal', T0 + 20).granted, false, '4/min spent');
      assert.equal(a.release('virustotal', lost, T0 + 30), true);
      assert.deepEqual([b.usage('virustotal', T0 + 30).minuteUsed, b.usage('virustotal', T0 + 30).dayUsed], [3, 3]);
      assert.equal(a.release('virustotal', lost, T0 + 31), false, 'a second release does nothing');
      assert.equal(b.usage('virustotal', T0 + 31).dayUsed, 3);
      assert.equal(granted(b.tryAcquire('virustotal', T0 + 40)).minuteUsed, 4, 'the freed slot is usable at once');
    });

    it('a release after midnight leaves the new day alone; a release while the lock is held elsewhere keeps the slot (false)', () => {
      const limiter = new QuotaLimiter(dir, {}, 200);
      const evening = Date.parse('2026-11-24T23:59:59Z');
      const grant = granted(limiter.tryAcquire('virustotal', evening));
      const midnight = Date.parse('2026-11-25T00:00:00Z');
      limiter.tryAcquire('virustotal', midnight);
      assert.equal(limiter.release('virustotal', grant, midnight + 1), true);
      assert.deepEqual([limiter.usage('virustotal', midnight + 1).minuteUsed, limiter.usage('virustotal', midnight + 1).dayUsed], [1, 1]);
      const other = granted(limiter.tryAcquire('virustotal', midnight + 2));
      writeFileSync(path.join(dir, 'virustotal.lock'), `${process.pid}\n`);
      assert.equal(limiter.release('virustotal', other, midnight + 3), false);
      rmSync(path.join(dir, 'virustotal.lock'));
      assert.equal(limiter.usage('virustotal', midnight + 3).dayUsed, 2, 'still spent');
      assert.equal(limiter.release('virustotal', other, midnight + 4), true, 'and can be given back once the lock is free');
    });

    it('4 processes granting and releasing at once: the day count is exactly the grants kept', async () => {
      const script = `
        const { QuotaLimiter } = require(${JSON.stringify(LIMITER_JS)});
        const limiter = new QuotaLimiter(${JSON.stringify(dir)}, { virustotal: { perMinute: null, perDay: 100000 } });
        process.stdout.write('ready\\n');
        process.stdin.once('data', () => {
          let kept = 0;
          for (let i = 0; i < 60; i++) {
            const d = limiter.tryAcquire('virustotal', Date.now());
            if (!d.granted) throw new Error('unexpected ' + JSON.stringify(d));
            if (i % 3 === 0) kept++; else if (!limiter.release('virustotal', d, Date.now())) throw new Error('release failed');
          }
          process.stdout.write(JSON.stringify({ kept }));
          process.exit(0);
        });`;
      const kept = (await runTogether(script, 4)).reduce((n, out) => n + (JSON.parse(out) as { kept: number }).kept, 0);
      assert.equal(kept, 80);
      assert.equal(new QuotaLimiter(dir).usage('virustotal', Date.now()).dayUsed, 80);
    });
  });

  it('defaults: VirusTotal 4/min and 500/day, AbuseIPDB 1,000/day without a minute limit', () => {
    assert.deepEqual(DEFAULT_QUOTA_LIMITS, { virustotal: { perMinute: 4, perDay: 500 }, abuseipdb: { perMinute: null, perDay: 1000 } });
  });

  it('6 concurrent processes trying for ~1 s with a 4/min budget: exactly 4 granted in total', async () => {
    const script = `
      const { QuotaLimiter } = require(${JSON.stringify(LIMITER_JS)});
      const limiter = new QuotaLimiter(${JSON.stringify(dir)});
      const sleep = new Int32Array(new SharedArrayBuffer(4));
      process.stdout.write('ready\\n');
      process.stdin.once('data', () => {
        const end = Date.now() + 1000;
        let granted = 0, denied = 0;
        while (Date.now() < end) {
          const d = limiter.tryAcquire('virustotal', Date.now());
          if (d.granted) granted++; else if (d.reason === 'minute') denied++; else throw new Error('unexpected ' + JSON.stringify(d));
          Atomics.wait(sleep, 0, 0, 5);
        }
        process.stdout.write(JSON.stringify({ granted, denied }));
        process.exit(0);
      });`;
    const counts = (await runTogether(script, 6)).map((out) => JSON.parse(out) as { granted: number; denied: number });
    assert.equal(counts.reduce((n, c) => n + c.granted, 0), 4);
    assert.ok(counts.every((c) => c.denied > 10), 'every process kept trying and was denied');
    assert.equal(new QuotaLimiter(dir).usage('virustotal', Date.now()).minuteUsed, 4);
  });

  it('rolling minute: the 5th request is denied until the oldest grant is 60 s old', () => {
    const limiter = new QuotaLimiter(dir);
    for (let i = 0; i < 4; i++) assert.equal(limiter.tryAcquire('virustotal', T0 + i * 1_000).granted, true);
    assert.deepEqual(limiter.tryAcquire('virustotal', T0 + 10_000), { granted: false, reason: 'minute', availableAtMs: T0 + 60_000 });
    assert.equal(limiter.tryAcquire('virustotal', T0 + 59_999).granted, false);
    assert.deepEqual(limiter.tryAcquire('virustotal', T0 + 60_000), { granted: true, minuteUsed: 4, dayUsed: 5, atMs: T0 + 60_000 });
  });

  it('daily limit resets at 00:00 UTC', () => {
    const limiter = new QuotaLimiter(dir, { virustotal: { perMinute: null, perDay: 3 } });
    const evening = Date.parse('2026-11-24T23:59:58Z');
    for (let i = 0; i < 3; i++) assert.equal(limiter.tryAcquire('virustotal', evening).granted, true);
    const midnight = Date.parse('2026-11-25T00:00:00Z');
    assert.equal(nextUtcMidnight(evening), midnight);
    assert.deepEqual(limiter.tryAcquire('virustotal', evening + 1_000), { granted: false, reason: 'day', availableAtMs: midnight });
    assert.deepEqual(limiter.tryAcquire('virustotal', midnight), { granted: true, minuteUsed: 4, dayUsed: 1, atMs: midnight });
    assert.equal(limiter.usage('virustotal', midnight).day, '2026-11-25');
  });

  it('a provider without a minute limit (AbuseIPDB): the whole daily budget in one second, then denied until midnight', () => {
    const limiter = new QuotaLimiter(dir, { abuseipdb: { perMinute: null, perDay: 60 } });
    let granted = 0;
    for (let i = 0; i < 61; i++) if (limiter.tryAcquire('abuseipdb', T0 + i).granted) granted++;
    assert.equal(granted, 60);
    assert.deepEqual(limiter.tryAcquire('abuseipdb', T0 + 2_000), { granted: false, reason: 'day', availableAtMs: Date.parse('2026-11-25T00:00:00Z') });
  });

  it('a penalty after a 429 is honoured by every limiter on the same folder, and never shortened', () => {
    const a = new QuotaLimiter(dir);
    const b = new QuotaLimiter(dir);
    assert.equal(a.penalize('abuseipdb', T0 + 29_241_000, T0), true);
    assert.deepEqual(b.tryAcquire('abuseipdb', T0 + 1_000), { granted: false, reason: 'penalty', availableAtMs: T0 + 29_241_000 });
    b.penalize('abuseipdb', T0 + 5_000, T0 + 1_000);
    assert.equal(a.tryAcquire('abuseipdb', T0 + 29_240_999).granted, false);
    assert.equal(a.tryAcquire('abuseipdb', T0 + 29_241_000).granted, true);
    // A absurd Retry-After is capped at 25 h.
    a.penalize('virustotal', T0 + 1e12, T0);
    const d = b.tryAcquire('virustotal', T0);
    assert.deepEqual(d, { granted: false, reason: 'penalty', availableAtMs: T0 + 25 * 3_600_000 });
  });

  it('acquireBefore waits for a minute slot that frees before the deadline, and not for one after it', async () => {
    const limiter = new QuotaLimiter(dir);
    let clock = T0;
    const slept: number[] = [];
    const sleep = async (ms: number) => {
      slept.push(ms);
      clock += ms;
    };
    for (let i = 0; i < 4; i++) limiter.tryAcquire('virustotal', T0);
    const late = await limiter.acquireBefore('virustotal', T0 + 30_000, sleep, () => clock, () => 0);
    assert.deepEqual(late, { granted: false, reason: 'minute', availableAtMs: T0 + 60_000 });
    assert.deepEqual(slept, [], 'denied at once: the slot frees after the deadline');
    const waited = await limiter.acquireBefore('virustotal', T0 + 90_000, sleep, () => clock, () => 0);
    assert.equal(waited.granted, true);
    assert.deepEqual(slept, [60_000]);
    assert.ok(clock < T0 + 90_000);
  });

  it('acquireBefore never waits for the daily reset within a 5-minute run', async () => {
    const limiter = new QuotaLimiter(dir, { virustotal: { perMinute: 4, perDay: 1 } });
    limiter.tryAcquire('virustotal', T0);
    let slept = 0;
    const d = await limiter.acquireBefore('virustotal', T0 + 300_000, async (ms) => void (slept += ms), () => T0 + 1);
    assert.equal(d.granted === false && d.reason, 'day');
    assert.equal(slept, 0);
  });

  it('a corrupt state file starts afresh; a lock held by a live process is a busy denial, not a hang', () => {
    const limiter = new QuotaLimiter(dir, {}, 200);
    limiter.tryAcquire('virustotal', T0);
    writeFileSync(path.join(dir, 'virustotal.json'), '{"v":1,"minute":[');
    assert.deepEqual(limiter.tryAcquire('virustotal', T0), { granted: true, minuteUsed: 1, dayUsed: 1, atMs: T0 });
    writeFileSync(path.join(dir, 'virustotal.lock'), `${process.pid}\n`);
    const started = Date.now();
    assert.deepEqual(limiter.tryAcquire('virustotal', T0), { granted: false, reason: 'busy', availableAtMs: T0 + 1_000 });
    assert.ok(Date.now() - started < 2_000);
  });
});
