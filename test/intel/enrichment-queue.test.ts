import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DEFAULT_QUEUE_MAX_AGE_MS, EnrichmentQueue, IncidentRef, releaseBackoffMs, waitingProviders } from '../../src/intel/enrichment-queue';
import { sealedText } from '../support/sealed-entries';
import { dataLayout } from '../../src/store/data-dir';

const QUEUE_JS = path.resolve(__dirname, '../../src/intel/enrichment-queue.js');
const T0 = Date.parse('2026-11-24T12:00:00Z');

const ref = (n: number, detection = 'SSH Brute Force'): IncidentRef => ({ incidentId: `INC-${n}`, sid: `scheduler__admin__sid${n}`, rid: String(n), detection });

/** A dead pid: spawn a process and wait for it to exit. */
function deadPid(): Promise<number> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['-e', '']);
    c.on('close', () => resolve(c.pid as number));
  });
}

describe('intel/enrichment-queue', () => {
  let root: string;
  let dir: string;
  let queue: EnrichmentQueue;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-queue-'));
    dir = dataLayout(root).queue;
    queue = new EnrichmentQueue(dir);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  describe('what an address waits for, expiry and the size bound', () => {
    it('records why it waits per provider; a newer reason wins, other providers are kept; a release can replace it', () => {
      const first = queue.enqueue('198.51.100.2', ref(1), T0, T0, { virustotal: 'no-key' });
      assert.deepEqual(first?.waitingFor, { virustotal: 'no-key' });
      const merged = queue.enqueue('198.51.100.2', ref(2), T0 + 1, T0 + 60_000, { virustotal: 'deferred', abuseipdb: 'retry' });
      assert.deepEqual(merged?.waitingFor, { virustotal: 'deferred', abuseipdb: 'retry' });
      assert.deepEqual(waitingProviders(merged!.waitingFor), ['virustotal', 'abuseipdb']);
      const onDisk = JSON.parse(readFileSync(path.join(dir, '198.51.100.2.json'), 'utf8')) as { waitingFor: unknown };
      assert.deepEqual(onDisk.waitingFor, { virustotal: 'deferred', abuseipdb: 'retry' });
      const claim = queue.claim('198.51.100.2', T0 + 60_000);
      assert.ok(claim);
      assert.equal(queue.release(claim, T0 + 60_001, T0 + 60_001, 'no key', { virustotal: 'no-key' }), true);
      assert.deepEqual(queue.list(T0 + 60_001)[0]?.waitingFor, { virustotal: 'no-key' });
    });

    it('an entry queued before reasons were recorded reads as waiting for nothing in particular; unknown reasons are dropped', () => {
      mkdirSync(dir, { recursive: true });
      const legacy = { v: 1, address: '198.51.100.3', firstQueuedAt: T0, lastQueuedAt: T0, attempts: 0, nextAttemptAt: T0, refs: [{ ...ref(1), queuedAt: T0 }] };
      // Sealed as this install would have: an entry's seal is checked before its fields.
      writeFileSync(path.join(dir, '198.51.100.3.json'), sealedText(root, 'queue', legacy));
      writeFileSync(path.join(dir, '198.51.100.4.json'), sealedText(root, 'queue', { ...legacy, address: '198.51.100.4', waitingFor: { virustotal: 'someday', abuseipdb: 'retry', shodan: 'no-key' } }));
      assert.deepEqual(queue.list(T0).map((e) => [e.address, e.waitingFor]), [['198.51.100.3', {}], ['198.51.100.4', { abuseipdb: 'retry' }]]);
    });

    it('references older than maxAgeMs expire; an address left with none leaves the queue; claims are not touched', () => {
      const day = 86_400_000;
      assert.equal(DEFAULT_QUEUE_MAX_AGE_MS, 7 * day);
      queue.enqueue('198.51.100.5', ref(1), T0, T0, { virustotal: 'no-key' });
      queue.enqueue('198.51.100.5', ref(2), T0 + 3 * day, T0 + 3 * day, { virustotal: 'no-key' });
      queue.enqueue('198.51.100.6', ref(3), T0 + day, T0 + day, { virustotal: 'no-key' });
      queue.enqueue('198.51.100.7', ref(4), T0, T0, { virustotal: 'no-key' });
      const claim = queue.claim('198.51.100.7', T0 + 1);
      assert.ok(claim);
      assert.deepEqual(queue.expire(T0 + 7 * day), { addresses: 0, refs: 0 }, 'exactly 7 days old: kept');
      assert.deepEqual(queue.expire(T0 + 8 * day + 1), { addresses: 1, refs: 2 });
      const left = new EnrichmentQueue(dir, { claimStaleMs: Number.POSITIVE_INFINITY }).list(T0 + 8 * day + 1);
      assert.deepEqual(left.map((e) => [e.address, e.refs.map((r) => r.incidentId), e.firstQueuedAt]), [['198.51.100.5', ['INC-2'], T0 + 3 * day]]);
      assert.ok(queue.complete(claim), 'the claimed address was left alone');
      assert.deepEqual(queue.expire(T0 + 30 * day), { addresses: 1, refs: 1 });
      assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.json') || n.endsWith('.claimed')), []);
    });

    it('expireNow scans at most once an hour (the time kept in the folder, for every process); size counts the waiting addresses', () => {
      const day = 86_400_000;
      assert.deepEqual(queue.expireNow(T0), { addresses: 0, refs: 0 }, 'an empty queue: nothing to scan');
      queue.enqueue('198.51.100.8', ref(1), T0);
      queue.enqueue('198.51.100.9', ref(2), T0 + 2 * day);
      assert.equal(queue.size(), 2);
      assert.deepEqual(queue.expireNow(T0 + 8 * day), { addresses: 1, refs: 1 });
      queue.enqueue('198.51.100.10', ref(3), T0 + 2 * day);
      assert.deepEqual(new EnrichmentQueue(dir).expireNow(T0 + 10 * day + 0), { addresses: 2, refs: 2 }, 'over an hour later: scanned');
      queue.enqueue('198.51.100.10', ref(3), T0 + 2 * day);
      assert.deepEqual(new EnrichmentQueue(dir).expireNow(T0 + 10 * day + 59 * 60_000), { addresses: 0, refs: 0 }, 'scanned less than an hour ago');
      assert.equal(queue.size(), 1);
      assert.deepEqual(new EnrichmentQueue(dir).expireNow(T0 + 10 * day + 60 * 60_000), { addresses: 1, refs: 1 });
      assert.equal(queue.size(), 0);
      // A marker from the future (a clock stepped back) does not stop the scans.
      queue.enqueue('198.51.100.11', ref(4), T0);
      assert.deepEqual(queue.expireNow(T0 + 8 * day), { addresses: 1, refs: 1 });
    });

    it('a new address is not queued while maxAddresses are; a queued one still takes more incidents; room frees as addresses leave', () => {
      const small = new EnrichmentQueue(dir, { maxAddresses: 2 });
      assert.ok(small.enqueue('198.51.100.1', ref(1), T0));
      assert.ok(small.enqueue('198.51.100.2', ref(2), T0));
      assert.equal(small.enqueue('198.51.100.3', ref(3), T0), undefined);
      assert.equal(small.enqueueMany('198.51.100.3', [ref(4), ref(5)], T0), undefined);
      assert.deepEqual(small.enqueue('198.51.100.1', ref(6), T0 + 1)?.refs.map((r) => r.incidentId), ['INC-1', 'INC-6']);
      const claim = small.claim('198.51.100.2', T0 + 2);
      assert.ok(claim && small.complete(claim));
      assert.ok(small.enqueue('198.51.100.3', ref(7), T0 + 3), 'room again');
      // Another process's count starts from what is on disk.
      assert.equal(new EnrichmentQueue(dir, { maxAddresses: 2 }).enqueue('198.51.100.4', ref(8), T0 + 4), undefined);
      assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.json')).sort(), ['198.51.100.1.json', '198.51.100.3.json']);
    });
  });

  it('repeated enqueues of one address merge incident refs (each incident once) into one file', () => {
    queue.enqueue('185.220.101.33', ref(1), T0);
    queue.enqueue('185.220.101.33', ref(2, 'Windows 4625 Brute Force'), T0 + 1_000);
    const merged = queue.enqueue('185.220.101.33', ref(1), T0 + 2_000);
    assert.ok(merged);
    assert.deepEqual(merged.refs.map((r) => [r.incidentId, r.detection]), [['INC-1', 'SSH Brute Force'], ['INC-2', 'Windows 4625 Brute Force']]);
    assert.deepEqual([merged.firstQueuedAt, merged.lastQueuedAt, merged.attempts, merged.nextAttemptAt], [T0, T0 + 2_000, 0, T0]);
    assert.deepEqual(readdirSync(dir).filter((n) => !n.endsWith('.lock')), ['185.220.101.33.json']);
  });

  it('lists due addresses oldest first; a later notBefore is not due yet', () => {
    queue.enqueue('198.51.100.2', ref(1), T0 + 10);
    queue.enqueue('2001:db8::7', ref(2), T0);
    queue.enqueue('203.0.113.5', ref(3), T0 + 5, T0 + 60_000);
    assert.deepEqual(queue.list(T0 + 20).map((e) => e.address), ['2001:db8::7', '198.51.100.2']);
    assert.deepEqual(queue.list(T0 + 60_000).map((e) => e.address), ['2001:db8::7', '203.0.113.5', '198.51.100.2']);
    assert.ok(readdirSync(dir).every((n) => !n.includes(':')), 'no ":" in file names');
  });

  it('claim / complete: a claimed address is not listed or claimable again; complete removes it', () => {
    queue.enqueue('198.51.100.2', ref(1), T0);
    const claim = queue.claim('198.51.100.2', T0 + 1);
    assert.ok(claim);
    assert.deepEqual(claim.entry.refs.map((r) => r.incidentId), ['INC-1']);
    assert.equal(queue.claim('198.51.100.2', T0 + 2), undefined);
    assert.equal(new EnrichmentQueue(dir).claim('198.51.100.2', T0 + 2), undefined);
    assert.deepEqual(queue.list(T0 + 3), []);
    assert.equal(queue.complete(claim), true);
    assert.deepEqual(readdirSync(dir).filter((n) => !n.endsWith('.lock')), []);
  });

  it('refs queued while an address is claimed are kept: after complete they are due on their own', () => {
    queue.enqueue('198.51.100.2', ref(1), T0);
    const claim = queue.claim('198.51.100.2', T0 + 1);
    assert.ok(claim);
    queue.enqueue('198.51.100.2', ref(2), T0 + 2);
    assert.equal(queue.claim('198.51.100.2', T0 + 3), undefined, 'still claimed');
    assert.equal(queue.complete(claim), true);
    assert.deepEqual(queue.list(T0 + 4).map((e) => e.refs.map((r) => r.incidentId)), [['INC-2']]);
  });

  it('release puts it back with attempts + 1, later, merged with refs queued meanwhile', () => {
    queue.enqueue('198.51.100.2', ref(1), T0);
    const claim = queue.claim('198.51.100.2', T0 + 1);
    assert.ok(claim);
    queue.enqueue('198.51.100.2', ref(2), T0 + 2, T0 + 300_000);
    assert.equal(queue.release(claim, T0 + 3, undefined, 'VirusTotal quota'), true);
    assert.equal(queue.list(T0 + 3).length, 0);
    const [back] = queue.list(T0 + 3 + releaseBackoffMs(1));
    assert.deepEqual([back.attempts, back.nextAttemptAt, back.lastError, back.refs.map((r) => r.incidentId)], [1, T0 + 3 + 60_000, 'VirusTotal quota', ['INC-1', 'INC-2']]);
    assert.equal(queue.complete(claim), false, 'a released claim is no longer held');
    assert.deepEqual([releaseBackoffMs(1), releaseBackoffMs(2), releaseBackoffMs(20)], [60_000, 120_000, 3_600_000]);
  });

  it('a claim whose process died is put back (counted as an attempt) and can be claimed again', async () => {
    const dead = new EnrichmentQueue(dir, { pid: await deadPid() });
    queue.enqueue('198.51.100.2', ref(1), T0);
    const lost = dead.claim('198.51.100.2', T0 + 1);
    assert.ok(lost);
    const again = queue.claim('198.51.100.2', T0 + 2);
    assert.ok(again);
    assert.equal(again.entry.attempts, 1);
    assert.match(again.entry.lastError ?? '', /abandoned/);
    assert.equal(dead.complete(lost), false);
    assert.equal(queue.complete(again), true);
  });

  it('a claim older than claimStaleMs is recovered by list even if its process runs', () => {
    const q = new EnrichmentQueue(dir, { claimStaleMs: 1_000 });
    q.enqueue('198.51.100.2', ref(1), T0);
    assert.ok(q.claim('198.51.100.2', T0));
    assert.deepEqual(q.list(T0 + 1_000), []);
    assert.deepEqual(q.list(T0 + 1_001).map((e) => [e.address, e.attempts]), [['198.51.100.2', 1]]);
  });

  it('a corrupt file is moved aside, not reused; maxRefs caps refs and counts the dropped ones', () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, '198.51.100.2.json'), '{"v":1,"addr');
    const fresh = queue.enqueue('198.51.100.2', ref(9), T0);
    assert.ok(fresh);
    assert.deepEqual(fresh.refs.map((r) => r.incidentId), ['INC-9']);
    assert.equal(readdirSync(dir).filter((n) => n.endsWith('.corrupt')).length, 1);
    const small = new EnrichmentQueue(dir, { maxRefs: 2 });
    small.enqueue('203.0.113.1', ref(1), T0);
    small.enqueue('203.0.113.1', ref(2), T0 + 1);
    const capped = small.enqueue('203.0.113.1', ref(3), T0 + 2);
    assert.ok(capped);
    assert.deepEqual([capped.refs.length, capped.droppedRefs], [2, 1]);
  });

  it('concurrent claims from 5 processes never hand the same address to two claimers', async () => {
    const now = Date.now();
    const addresses = Array.from({ length: 40 }, (_, i) => `198.51.100.${i + 1}`);
    addresses.forEach((a, i) => queue.enqueue(a, ref(i), now - 60_000 + i));
    // Each child waits at a barrier, then walks the due list from its own starting point so
    // that they contend for the same addresses, and keeps its claims until told to exit.
    const script = (index: number) => `
      const { EnrichmentQueue } = require(${JSON.stringify(QUEUE_JS)});
      const q = new EnrichmentQueue(${JSON.stringify(dir)});
      setTimeout(() => process.exit(3), 20000);
      process.stdout.write('ready\\n');
      let phase = 0;
      process.stdin.on('data', () => {
        if (phase++ > 0) process.exit(0);
        const due = q.list(Date.now());
        const start = Math.floor(due.length * ${index} / 5);
        const got = [];
        for (let i = 0; i < due.length; i++) {
          const c = q.claim(due[(start + i) % due.length].address, Date.now());
          if (c) got.push(c.address);
        }
        process.stdout.write(JSON.stringify(got) + '\\n');
      });
      process.stdin.on('end', () => process.exit(0));`;
    const children = Array.from({ length: 5 }, (_, i) => spawn(process.execPath, ['-e', script(i)]));
    const exited = children.map((c) => new Promise((resolve) => c.on('close', resolve)));
    try {
      const answers = children.map(
        (c) =>
          new Promise<string[]>((resolve, reject) => {
            let out = '';
            let err = '';
            c.stderr.on('data', (d: Buffer) => (err += d));
            c.stdout.on('data', (d: Buffer) => {
              out += d;
              const lines = out.split('\n');
              if (lines.length >= 3) resolve(JSON.parse(lines[1]) as string[]);
            });
            c.on('close', (code) => reject(new Error(`child exited ${code} before answering: ${err}`)));
          }),
      );
      await Promise.all(children.map((c) => new Promise<void>((resolve) => {
        let seen = '';
        const onData = (d: Buffer) => {
          seen += d;
          if (seen.startsWith('ready\n')) {
            c.stdout.off('data', onData);
            resolve();
          }
        };
        c.stdout.on('data', onData);
      })));
      for (const c of children) c.stdin.write('go\n');
      const outputs = await Promise.all(answers);
      const perProcess = outputs.map((o) => o.length).join(', ');
      const claimed = outputs.flat();
      assert.equal(claimed.length, 40, `claims per process: ${perProcess}`);
      assert.equal(new Set(claimed).size, 40);
      assert.deepEqual([...claimed].sort(), [...addresses].sort());
      // While the claimers still run, nothing is due and nothing can be claimed again.
      assert.deepEqual(queue.list(Date.now()), []);
      assert.equal(queue.claim(addresses[0], Date.now()), undefined);
    } finally {
      for (const c of children) c.stdin.end('x');
      await Promise.all(exited);
    }
  });
});

describe('intel/enrichment-queue list(Infinity)', () => {
  let root: string;
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('shows the whole queue without taking over live claims', () => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-q-'));
    const q = new EnrichmentQueue(path.join(root, 'queue'));
    const now = Date.now();
    q.enqueue('198.51.100.1', { incidentId: 'INC-1', sid: 's', rid: '0', detection: 'd' }, now, now + 3_600_000);
    q.enqueue('198.51.100.2', { incidentId: 'INC-2', sid: 's', rid: '1', detection: 'd' }, now);
    const claim = q.claim('198.51.100.2', now);
    assert.ok(claim);
    assert.deepEqual(q.list(Infinity).map((e) => e.address), ['198.51.100.1']);
    assert.ok(q.complete(claim!), 'the live claim is still ours');
  });
});

describe('intel/enrichment-queue sealed entries', () => {
  let root: string;
  let queue: EnrichmentQueue;
  const entry = (address: string) => ({ v: 1, address, firstQueuedAt: T0, lastQueuedAt: T0, attempts: 0, nextAttemptAt: T0, refs: [{ incidentId: 'INC-9', sid: 's', rid: '0', detection: 'd', queuedAt: T0 }], droppedRefs: 0, waitingFor: {} });
  const letters = () => {
    const dir = path.join(root, 'dead-letters');
    return readdirSync(dir).map((n) => JSON.parse(readFileSync(path.join(dir, n), 'utf8')) as { kind: string; reason: string; forged: { source: string; problem: string; file: string } });
  };
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-q-seal-'));
    queue = new EnrichmentQueue(dataLayout(root).queue);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('writes every entry and claim with a MAC', () => {
    queue.enqueue('198.51.100.1', { incidentId: 'INC-1', sid: 's', rid: '0', detection: 'd' }, T0);
    const pending = JSON.parse(readFileSync(path.join(root, 'queue', '198.51.100.1.json'), 'utf8')) as { mac?: string };
    assert.match(pending.mac ?? '', /^[0-9a-f]{64}$/);
    assert.ok(queue.claim('198.51.100.1', T0));
    const claimed = JSON.parse(readFileSync(path.join(root, 'queue', '198.51.100.1.claimed'), 'utf8')) as { mac?: string };
    assert.match(claimed.mac ?? '', /^[0-9a-f]{64}$/);
  });

  it('an entry without a MAC, or with a wrong one, is never listed or claimed: it becomes a forged dead letter with the reason', () => {
    const dir = path.join(root, 'queue');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, '198.51.100.2.json'), JSON.stringify(entry('198.51.100.2')));
    const tampered = JSON.parse(sealedText(root, 'queue', entry('198.51.100.3'))) as Record<string, unknown>;
    writeFileSync(path.join(dir, '198.51.100.3.json'), JSON.stringify({ ...tampered, address: '198.51.100.3', refs: [{ incidentId: 'INC-X', sid: 's', rid: '1', detection: 'd', queuedAt: T0 }] }));
    assert.deepEqual(queue.list(T0), []);
    assert.equal(queue.claim('198.51.100.2', T0), undefined);
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.json')), []);
    const kept = letters().sort((a, b) => a.forged.file.localeCompare(b.forged.file));
    assert.deepEqual(kept.map((l) => [l.kind, l.forged.source, l.forged.problem, l.forged.file]), [
      ['forged', 'queue', 'unsealed', '198.51.100.2.json'],
      ['forged', 'queue', 'bad_mac', '198.51.100.3.json'],
    ]);
    assert.match(kept[0]!.reason, /carries no MAC.*before this version sealed the queue/);
    assert.match(kept[1]!.reason, /MAC does not match/);
  });

  it('a forged file under an address being queued is dead-lettered, not merged into the real entry', () => {
    const dir = path.join(root, 'queue');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, '198.51.100.4.json'), JSON.stringify(entry('198.51.100.4')));
    const q = queue.enqueue('198.51.100.4', { incidentId: 'INC-REAL', sid: 's', rid: '0', detection: 'd' }, T0);
    assert.deepEqual(q?.refs.map((r) => r.incidentId), ['INC-REAL']);
    assert.equal(letters().length, 1);
  });
});
