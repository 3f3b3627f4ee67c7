import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import fc from 'fast-check';
import { createRng, seedToState } from '../../src/generator/prng';
import { isoStamper, kvStamper, syslogStamper } from '../../src/generator/timestamps';
import { corpusPath } from './corpus';

describe('seeded PRNG', () => {
  it('repeats its sequence for a seed; text and number seeds of the same spelling agree', () => {
    const a = createRng('alpha');
    const b = createRng('alpha');
    const xs = Array.from({ length: 1000 }, () => a.next());
    assert.deepEqual(Array.from({ length: 1000 }, () => b.next()), xs);
    assert.equal(seedToState(42), seedToState('42'));
    const c = createRng('alphb');
    assert.notDeepEqual(Array.from({ length: 1000 }, () => c.next()), xs);
  });

  it('draws in range: next in [0,1), int inclusive at both ends, uniform in [min,max)', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 0, max: 1000 }), (seed, min, span) => {
        const rng = createRng(seed);
        for (let i = 0; i < 50; i++) {
          const x = rng.next();
          assert.ok(x >= 0 && x < 1);
          const n = rng.int(min, min + span);
          assert.ok(Number.isInteger(n) && n >= min && n <= min + span);
          const u = rng.uniform(min, min + span + 1);
          assert.ok(u >= min && u < min + span + 1);
        }
      }),
    );
  });

  it('is close to uniform: 200,000 draws over 10 buckets, each within 2 % of 20,000; both ends of int reached', () => {
    const rng = createRng(7);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 200_000; i++) buckets[Math.floor(rng.next() * 10)]++;
    for (const b of buckets) assert.ok(Math.abs(b - 20_000) < 400, `bucket ${b}`);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(rng.int(1, 6));
    assert.deepEqual([...seen].sort(), [1, 2, 3, 4, 5, 6]);
  });

  it('refuses to pick from an empty list', () => {
    assert.throws(() => createRng(1).pick([]), /pick from an empty list/);
  });
});

describe('timestamp text', () => {
  const corpusFirst = fs.readFileSync(corpusPath('sshd', 'loghub_SSH_2k.log'), 'utf8').slice(0, 15);

  it('syslog stamps look like the corpus ("Dec 10 06:55:46") and pad one-digit days with a space', () => {
    assert.equal(corpusFirst, 'Dec 10 06:55:46');
    const stamp = syslogStamper();
    assert.equal(stamp(Date.UTC(2017, 11, 10, 6, 55, 46, 999)), corpusFirst);
    assert.equal(stamp(Date.UTC(2024, 4, 1, 3, 4, 5)), 'May  1 03:04:05');
  });

  it('kv stamps are the seed script\'s %Y-%m-%d %H:%M:%S (UTC)', () => {
    const stamp = kvStamper();
    assert.equal(stamp(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), '2024-01-02 03:04:05');
  });

  it('cached stamps equal fresh formatting for any sequence of times, forwards or backwards', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 4_102_444_800_000 }), { minLength: 1, maxLength: 40 }), (times) => {
        const iso = isoStamper();
        const kv = kvStamper();
        const sys = syslogStamper();
        for (const t of [...times, ...times.map((x) => x + 1), ...times.map((x) => x + 999)]) {
          const d = new Date(t);
          assert.equal(iso(t), d.toISOString());
          assert.equal(kv(t), d.toISOString().slice(0, 19).replace('T', ' '));
          const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
          assert.equal(sys(t), `${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)}`);
        }
      }),
    );
  });
});
