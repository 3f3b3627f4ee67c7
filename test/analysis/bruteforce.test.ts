import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import {
  BoundedCounter,
  DEFAULT_BRUTE_FORCE_OPTIONS,
  FailureAggregator,
  SlidingWindowMax,
  bruteForceOptions,
  detachString,
} from '../../src/analysis/bruteforce';
import { classifyAddress } from '../../src/analysis/address-scope';

/** The definition, evaluated the slow way: for each event, the weight of events in [t, t + w). */
function naiveMax(events: readonly { t: number; n: number }[], windowMs: number): number {
  let best = 0;
  for (const a of events) {
    let sum = 0;
    for (const b of events) if (b.t >= a.t && b.t - a.t < windowMs) sum += b.n;
    best = Math.max(best, sum);
  }
  return best;
}

describe('analysis/bruteforce: options', () => {
  it('fills defaults and ignores undefined values', () => {
    const r = bruteForceOptions({ threshold: 3, windowSeconds: undefined });
    assert.ok(r.ok);
    assert.deepEqual(r.value, { ...DEFAULT_BRUTE_FORCE_OPTIONS, threshold: 3 });
  });

  it('rejects a window that is not a positive number of seconds', () => {
    for (const windowSeconds of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const r = bruteForceOptions({ windowSeconds });
      assert.ok(!r.ok);
      assert.equal(r.error.kind, 'invalid_option');
      assert.match(r.error.message, /window must be a number of seconds greater than 0/);
    }
  });

  it('rejects thresholds and counts that are not whole numbers of at least 1', () => {
    for (const bad of [{ threshold: 0 }, { threshold: 2.5 }, { minFailuresBeforeSuccess: -1 }, { topN: 0 }]) {
      const r = bruteForceOptions(bad);
      assert.ok(!r.ok, JSON.stringify(bad));
      assert.equal(r.error.kind, 'invalid_option');
      assert.match(r.error.message, new RegExp(`${Object.keys(bad)[0]} must be a whole number`));
    }
  });

  it('accepts fractional windows (sub-second detection)', () => {
    const r = bruteForceOptions({ windowSeconds: 0.5 });
    assert.ok(r.ok);
  });
});

describe('analysis/bruteforce: sliding window', () => {
  it('matches the naive definition on random ordered event streams', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: 3000 }), n: fc.integer({ min: 1, max: 6 }) }), { maxLength: 200 }),
        fc.integer({ min: 1, max: 20_000 }),
        (steps, windowMs) => {
          let t = 1_700_000_000_000;
          const events = steps.map(({ gap, n }) => ({ t: (t += gap), n }));
          const w = new SlidingWindowMax(windowMs);
          for (const e of events) w.add(e.t, e.n);
          assert.equal(w.max, naiveMax(events, windowMs));
          if (events.length > 0) assert.ok(w.maxEndMs - w.maxStartMs < windowMs);
          assert.equal(w.outOfOrder, 0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('treats the window as half-open: events exactly windowMs apart are in different windows', () => {
    const w = new SlidingWindowMax(60_000);
    w.add(0, 1);
    w.add(60_000, 1);
    assert.equal(w.max, 1);
    w.add(119_999, 1);
    assert.equal(w.max, 2);
  });

  it('counts an event that goes back in time at the later time and reports it', () => {
    const w = new SlidingWindowMax(10_000);
    w.add(50_000, 1);
    w.add(45_000, 1);
    assert.equal(w.outOfOrder, 1);
    assert.equal(w.max, 2);
  });

  it('starts a new segment after a jump back in time instead of piling events into one window', () => {
    const w = new SlidingWindowMax(60_000);
    // The same 90-second burst three times, as when a log file is concatenated to itself.
    for (let rep = 0; rep < 3; rep++) for (let i = 0; i < 10; i++) w.add(1_000_000 + i * 10_000, 1);
    assert.equal(w.max, 6);
    assert.equal(w.outOfOrder, 2);
    const internal = w as unknown as { times: number[]; head: number };
    assert.ok(internal.times.length - internal.head <= 6);
  });

  it('keeps memory to the window: a long stream compacts its queue', () => {
    const w = new SlidingWindowMax(1000);
    for (let i = 0; i < 100_000; i++) w.add(i * 100, 1);
    assert.equal(w.max, 10);
    const internal = w as unknown as { times: number[] };
    assert.ok(internal.times.length < 5000, `queue holds ${internal.times.length}`);
  });
});

describe('analysis/bruteforce: bounded counter', () => {
  it('is exact below capacity', () => {
    const c = new BoundedCounter(10);
    for (let i = 0; i < 10; i++) c.add(`u${i}`, i + 1);
    assert.equal(c.approximate, false);
    assert.equal(c.distinct, 10);
    assert.deepEqual(c.top(2), [
      { key: 'u9', count: 10 },
      { key: 'u8', count: 9 },
    ]);
  });

  it('returns the key it keeps, equal to the one given, before and after pruning', () => {
    const c = new BoundedCounter(2);
    const line = 'Failed password for invalid user administrator from 192.0.2.1';
    const user = line.slice(line.indexOf('administrator'), line.indexOf(' from'));
    assert.equal(c.add(user, 1), 'administrator');
    assert.equal(c.add('administrator', 1), 'administrator');
    for (let i = 0; i < 10; i++) assert.equal(c.add(`name${i}`, 1), `name${i}`);
    assert.equal(c.add(user, 1), 'administrator');
    assert.deepEqual(c.top(1), [{ key: 'administrator', count: 3 }]);
  });

  it('prunes to the heaviest keys past twice the capacity and says it is approximate', () => {
    const c = new BoundedCounter(5);
    c.add('root', 1000);
    c.add('admin', 500);
    for (let i = 0; i < 50; i++) c.add(`once${i}`, 1);
    c.add('root', 1);
    assert.equal(c.approximate, true);
    assert.equal(c.maxDropped, 1);
    assert.ok(c.distinct >= 52);
    assert.deepEqual(c.top(2), [
      { key: 'root', count: 1001 },
      { key: 'admin', count: 500 },
    ]);
  });
});

describe('analysis/bruteforce: aggregator', () => {
  const opts = { ...DEFAULT_BRUTE_FORCE_OPTIONS, windowSeconds: 10, threshold: 3, minFailuresBeforeSuccess: 2, topN: 5 };

  it('finds the candidates, flags private and loopback sources, and keeps sourceless failures apart', () => {
    const a = new FailureAggregator(opts);
    const t0 = Date.UTC(2024, 0, 1);
    for (let i = 0; i < 4; i++) a.addFailure(t0 + i * 1000, '203.0.113.77', 'root');
    for (let i = 0; i < 5; i++) a.addFailure(t0 + i * 20_000, '10.1.2.3', 'admin');
    a.addFailure(t0, '::1', 'bob', 3);
    a.addFailure(t0, null, 'ghost');
    const s = a.summarize();
    assert.equal(s.totalFailures, 4 + 5 + 3 + 1);
    assert.equal(s.failuresWithoutSource, 1);
    assert.equal(s.distinctSources, 3);
    assert.deepEqual(
      s.bruteForce.map((r) => [r.address, r.maxInWindow, r.scope, r.isPublic]),
      [
        ['203.0.113.77', 4, 'reserved', false],
        ['::1', 3, 'loopback', false],
      ],
    );
    const priv = s.topSources.find((r) => r.address === '10.1.2.3')!;
    assert.deepEqual([priv.failures, priv.maxInWindow, priv.scope, priv.isPublic, priv.isBruteForce], [5, 1, 'private', false, false]);
    assert.ok(s.bruteForce.every((r) => r.isBruteForce));
    assert.deepEqual(s.topUsers[0], { user: 'admin', failures: 5 });
  });

  it('reports a success only after enough failures, with the count before it', () => {
    const a = new FailureAggregator(opts);
    a.addFailure(1000, '198.51.100.1', 'x');
    a.addSuccess(2000, '198.51.100.1', 'x', 'password'); // 1 failure: below 2
    a.addFailure(3000, '198.51.100.1', 'x');
    a.addSuccess(4000, '198.51.100.1', 'x', 'password');
    a.addSuccess(5000, null, 'y', null);
    a.addSuccess(6000, '192.0.2.200', 'z', null); // never failed
    const s = a.summarize();
    assert.equal(s.successes, 4);
    assert.equal(s.successAfterFailures.length, 1);
    assert.deepEqual(
      { ...s.successAfterFailures[0]! },
      { address: '198.51.100.1', scope: 'reserved', isPublic: false, user: 'x', method: 'password', timeMs: 4000, failuresBefore: 2, lastFailureMs: 3000 },
    );
    assert.equal(s.topSources[0]!.successes, 2);
  });

  it('caps kept success records at 1,000 and counts the rest', () => {
    const a = new FailureAggregator({ ...opts, minFailuresBeforeSuccess: 1 });
    a.addFailure(0, '192.0.2.1', 'u');
    for (let i = 0; i < 1005; i++) a.addSuccess(i, '192.0.2.1', 'u', 'password');
    const s = a.summarize();
    assert.equal(s.successAfterFailures.length, 1000);
    assert.equal(s.successAfterFailuresTruncated, 5);
  });

  it('caps the user table per source at 64 names and says so', () => {
    const a = new FailureAggregator(opts);
    for (let i = 0; i < 100; i++) a.addFailure(i, '192.0.2.9', `user${i}`);
    const r = a.summarize().topSources[0]!;
    assert.equal(r.distinctUsers, 64);
    assert.equal(r.distinctUsersCapped, true);
    assert.equal(r.topUsers.length, 5);
  });

  it('counts each source\'s names exactly when they interleave, repeat and arrive in bulk', () => {
    const a = new FailureAggregator(opts);
    const seq: [string, number][] = [['root', 1], ['admin', 1], ['root', 3], ['oracle', 1], ['admin', 1], ['admin', 1], ['root', 1], ['', 2], ['a b', 1]];
    seq.forEach(([user, n], i) => a.addFailure(i * 1000, '198.51.100.7', user, n));
    a.addFailure(0, '198.51.100.8', 'admin');
    const s = a.summarize();
    const r = s.topSources.find((x) => x.address === '198.51.100.7')!;
    assert.deepEqual(r.topUsers, [
      { user: 'root', failures: 5 },
      { user: 'admin', failures: 3 },
      { user: '', failures: 2 },
      { user: 'a b', failures: 1 },
      { user: 'oracle', failures: 1 },
    ]);
    assert.deepEqual([r.distinctUsers, r.distinctUsersCapped, r.failures], [5, false, 12]);
    assert.deepEqual(s.topSources.find((x) => x.address === '198.51.100.8')!.topUsers, [{ user: 'admin', failures: 1 }]);
    assert.deepEqual(s.topUsers.slice(0, 2), [
      { user: 'root', failures: 5 },
      { user: 'admin', failures: 4 },
    ]);
  });

  it('keeps counting the 64 names it holds once a source has tried more', () => {
    const a = new FailureAggregator(opts);
    for (let i = 0; i < 100; i++) a.addFailure(i, '192.0.2.9', `user${i}`);
    for (let i = 0; i < 3; i++) a.addFailure(100 + i, '192.0.2.9', 'user63');
    a.addFailure(200, '192.0.2.9', 'user64');
    const r = a.summarize().topSources[0]!;
    assert.deepEqual(r.topUsers[0], { user: 'user63', failures: 4 });
    assert.equal(r.topUsers.some((u) => u.user === 'user64'), false);
    assert.deepEqual([r.distinctUsers, r.failures], [64, 104]);
  });

  it('returns null times when nothing was timed', () => {
    const s = new FailureAggregator(opts).summarize();
    assert.deepEqual([s.firstMs, s.lastMs, s.totalFailures, s.topSources.length], [null, null, 0, 0]);
  });
});

describe('analysis/bruteforce: detachString and address scopes', () => {
  it('copies long strings without changing them', () => {
    const big = 'x'.repeat(100_000) + 'ec2-52-80-34-196.cn-north-1.compute.amazonaws.com.cn';
    const key = big.slice(100_000);
    assert.equal(detachString(key), key);
    assert.equal(detachString('short'), 'short');
  });

  it('classifies the corpus addresses', () => {
    assert.deepEqual(classifyAddress('192.168.198.149'), { scope: 'private', isPublic: false });
    assert.deepEqual(classifyAddress('::1'), { scope: 'loopback', isPublic: false });
    assert.deepEqual(classifyAddress('127.0.0.1'), { scope: 'loopback', isPublic: false });
    assert.deepEqual(classifyAddress('183.62.140.253'), { scope: 'public', isPublic: true });
    assert.deepEqual(classifyAddress('n219076184117.netvigator.com'), { scope: 'hostname', isPublic: false });
    assert.deepEqual(classifyAddress('::ffff:10.0.0.1'), { scope: 'private', isPublic: false });
    assert.deepEqual(classifyAddress('fe80::1%eth0'), { scope: 'link-local', isPublic: false });
    assert.deepEqual(classifyAddress('100.64.1.1'), { scope: 'private', isPublic: false });
    assert.deepEqual(classifyAddress('255.255.255.255'), { scope: 'reserved', isPublic: false });
    assert.deepEqual(classifyAddress('2a00:1450:4001::1'), { scope: 'public', isPublic: true });
    assert.deepEqual(classifyAddress('127.1'), { scope: 'invalid', isPublic: false });
    assert.deepEqual(classifyAddress('999.1.1.1'), { scope: 'invalid', isPublic: false });
    assert.deepEqual(classifyAddress('bad host!'), { scope: 'invalid', isPublic: false });
  });
});
