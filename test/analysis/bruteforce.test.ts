import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import {
  BoundedCounter,
  DEFAULT_BRUTE_FORCE_OPTIONS,
  FailureAggregator,
  SlidingWindowMax,
  SSH_BRUTE_FORCE_OPTIONS,
  WINDOWS_BRUTE_FORCE_OPTIONS,
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
    const win = bruteForceOptions({ topN: 3 }, WINDOWS_BRUTE_FORCE_OPTIONS);
    assert.deepEqual(win, { ok: true, value: { ...WINDOWS_BRUTE_FORCE_OPTIONS, topN: 3 } });
  });

  it("defaults to the SSH detection's; Windows counts per account with its own threshold", () => {
    assert.equal(DEFAULT_BRUTE_FORCE_OPTIONS, SSH_BRUTE_FORCE_OPTIONS);
    assert.deepEqual(
      { ...WINDOWS_BRUTE_FORCE_OPTIONS, threshold: SSH_BRUTE_FORCE_OPTIONS.threshold, perAccount: false },
      SSH_BRUTE_FORCE_OPTIONS,
      'the Windows defaults differ only there',
    );
    assert.notEqual(WINDOWS_BRUTE_FORCE_OPTIONS.threshold, SSH_BRUTE_FORCE_OPTIONS.threshold);
    assert.equal(WINDOWS_BRUTE_FORCE_OPTIONS.perAccount, true);
  });

  it('rejects a window that is not a positive number of seconds', () => {
    for (const windowSeconds of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const r = bruteForceOptions({ windowSeconds });
      assert.ok(!r.ok);
      assert.equal(r.error.kind, 'invalid_option');
      assert.match(r.error.message, /^window must be a number of seconds greater than 0/);
      const success = bruteForceOptions({ successWindowSeconds: windowSeconds });
      assert.ok(!success.ok);
      assert.match(success.error.message, /^success window must be a number of seconds greater than 0/);
    }
  });

  it('rejects thresholds below 0, top lists below 1, and fractions', () => {
    for (const bad of [{ threshold: -1 }, { threshold: 2.5 }, { failuresBeforeSuccess: -1 }, { topN: 0 }]) {
      const r = bruteForceOptions(bad);
      assert.ok(!r.ok, JSON.stringify(bad));
      assert.equal(r.error.kind, 'invalid_option');
      assert.match(r.error.message, new RegExp(`${Object.keys(bad)[0]} must be a whole number`));
    }
    assert.ok(bruteForceOptions({ threshold: 0, failuresBeforeSuccess: 0 }).ok, '"more than 0": every failure');
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

  it('counts the events in the trailing window up to a time like the naive definition', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: 3000 }), n: fc.integer({ min: 1, max: 6 }) }), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: 1, max: 20_000 }),
        fc.integer({ min: 1, max: 40_000 }),
        fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 10 }),
        (steps, windowMs, trailingMs, probes) => {
          let t = 1_700_000_000_000;
          const events = steps.map(({ gap, n }) => ({ t: (t += gap), n }));
          const w = new SlidingWindowMax(windowMs, trailingMs);
          for (const e of events) w.add(e.t, e.n);
          assert.equal(w.max, naiveMax(events, windowMs), 'the window is unchanged by the trailing count');
          // Asked at the last event and later, in order, as successes come after failures.
          let at = t;
          for (const step of probes) {
            at += step;
            const expected = events.filter((e) => e.t > at - trailingMs && e.t <= at).reduce((n, e) => n + e.n, 0);
            assert.equal(w.countWithin(at), expected, `at +${at - t} ms`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('leaves out events after the time asked for', () => {
    const w = new SlidingWindowMax(1000, 10_000);
    for (const t of [1000, 2000, 3000, 4000]) w.add(t, t === 2000 ? 5 : 1);
    assert.equal(w.countWithin(2500), 6);
    assert.equal(w.countWithin(4000), 8);
    assert.equal(w.countWithin(12_500), 2, 'only 3000 and 4000 are within 10 s of 12.5 s');
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
  const opts = { ...DEFAULT_BRUTE_FORCE_OPTIONS, windowSeconds: 10, threshold: 3, failuresBeforeSuccess: 1, successWindowSeconds: 60, topN: 5 };

  it('finds the candidates, flags private and loopback sources, and keeps sourceless failures apart', () => {
    const a = new FailureAggregator(opts);
    const t0 = Date.UTC(2024, 0, 1);
    for (let i = 0; i < 4; i++) a.addFailure(t0 + i * 1000, '203.0.113.77', 'root');
    for (let i = 0; i < 5; i++) a.addFailure(t0 + i * 20_000, '10.1.2.3', 'admin');
    a.addFailure(t0, '::1', 'bob', 4);
    a.addFailure(t0, '127.0.0.1', 'carol', 3); // exactly the threshold: not more than it
    a.addFailure(t0, null, 'ghost');
    const s = a.summarize();
    assert.equal(s.totalFailures, 4 + 5 + 4 + 3 + 1);
    assert.equal(s.failuresWithoutSource, 1);
    assert.equal(s.distinctSources, 4);
    assert.deepEqual(
      s.bruteForce.map((r) => [r.address, r.maxInWindow, r.scope, r.isPublic, r.maxWindowAccount]),
      [
        ['203.0.113.77', 4, 'reserved', false, null],
        ['::1', 4, 'loopback', false, null],
      ],
    );
    assert.equal(s.topSources.find((r) => r.address === '127.0.0.1')!.isBruteForce, false);
    const priv = s.topSources.find((r) => r.address === '10.1.2.3')!;
    assert.deepEqual([priv.failures, priv.maxInWindow, priv.scope, priv.isPublic, priv.isBruteForce], [5, 1, 'private', false, false]);
    assert.ok(s.bruteForce.every((r) => r.isBruteForce));
    assert.deepEqual(s.topUsers[0], { user: 'admin', failures: 5 });
  });

  it('reports a success only after more failures than the setting, with the count before it', () => {
    const a = new FailureAggregator(opts);
    a.addFailure(1000, '198.51.100.1', 'x');
    a.addSuccess(2000, '198.51.100.1', 'x', 'password'); // 1 failure: not more than 1
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

  it('counts only the failures within the success window before a success', () => {
    const a = new FailureAggregator(opts);
    a.addFailure(0, '198.51.100.2', 'x');
    a.addFailure(30_000, '198.51.100.2', 'x');
    a.addSuccess(65_000, '198.51.100.2', 'x', 'password'); // the failure at 0 is more than a minute before: 1 left
    a.addFailure(70_000, '198.51.100.2', 'y');
    a.addSuccess(80_000, '198.51.100.2', 'y', 'password'); // 30 s and 70 s: 2 within the minute
    a.addSuccess(Number.NaN, '198.51.100.2', 'z', null); // no time: every failure of the source counts
    const s = a.summarize();
    assert.deepEqual(
      s.successAfterFailures.map((r) => [r.user, r.failuresBefore]),
      [
        ['y', 2],
        ['z', 3],
      ],
    );
    assert.deepEqual([s.failuresBeforeSuccess, s.successWindowSeconds], [1, 60]);
  });

  it('caps kept success records at 1,000 and counts the rest', () => {
    const a = new FailureAggregator({ ...opts, failuresBeforeSuccess: 0 });
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

  it('with per-account counting, fires on one account passing the threshold, not on the source total', () => {
    const per = { ...opts, perAccount: true };
    const t0 = Date.UTC(2024, 0, 1);
    const feed = (a: FailureAggregator): FailureAggregator => {
      for (let i = 0; i < 4; i++) for (const u of ['admin', 'backup']) a.addFailure(t0 + i * 1000, '198.51.100.9', u);
      for (let i = 0; i < 8; i++) a.addFailure(t0 + i * 1000, '198.51.100.10', `user${i}`); // one each: a spray
      for (let i = 0; i < 9; i++) a.addFailure(t0 + i * 1000, '198.51.100.11', null); // no account: in no window
      return a;
    };
    const s = feed(new FailureAggregator(per)).summarize();
    assert.equal(s.perAccount, true);
    assert.deepEqual(
      s.bruteForce.map((r) => [r.address, r.failures, r.maxInWindow, r.maxWindowAccount, r.maxWindowStartMs, r.maxWindowEndMs]),
      [['198.51.100.9', 8, 4, 'admin', t0, t0 + 3000]],
    );
    assert.deepEqual(
      s.topSources.map((r) => [r.address, r.maxInWindow, r.isBruteForce]),
      [
        ['198.51.100.11', 0, false],
        ['198.51.100.10', 1, false],
        ['198.51.100.9', 4, true],
      ],
    );
    // Per source, the same failures make all three candidates.
    assert.deepEqual(feed(new FailureAggregator(opts)).summarize().bruteForce.map((r) => r.address).sort(), ['198.51.100.10', '198.51.100.11', '198.51.100.9']);
  });

  it('with per-account counting, keeps windows only for accounts active within the window', () => {
    const a = new FailureAggregator({ ...opts, perAccount: true });
    for (let i = 0; i < 5; i++) a.addFailure(i, '203.0.113.5', 'early');
    // A slow spray over 20,000 names, one a second, from the same source.
    for (let i = 0; i < 20_000; i++) a.addFailure(10_000 + i * 1000, '203.0.113.5', `name${i}`);
    const internal = a as unknown as { sources: Map<string, { accounts: Map<string, unknown> }> };
    const live = internal.sources.get('203.0.113.5')!.accounts.size;
    assert.ok(live <= 128, `${live} account windows held`);
    const r = a.summarize().bruteForce[0]!;
    assert.deepEqual([r.maxInWindow, r.maxWindowAccount], [5, 'early']);
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
