/**
 * The file maintenance lease: one holder at a time, no waiting, taken over when abandoned
 * (older than its ttl, or its process gone), and a release never removes a lease someone
 * else took over.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FileMaintenanceLease, MAINTENANCE_LEASE_FILE } from '../../src/state/maintenance-lease';

const TTL = 60_000;

describe('FileMaintenanceLease', () => {
  let root: string;
  let locks: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-lease-unit-'));
    locks = path.join(root, 'locks');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is held by one holder at a time, without waiting; free again after release', async () => {
    const lease = new FileMaintenanceLease(locks);
    const now = Date.now();
    const first = await lease.tryAcquire('run-1', now, TTL);
    assert.ok(first, 'the first run takes it (the locks folder is made on first use)');
    assert.equal(first.holder, 'run-1');
    assert.equal(readFileSync(path.join(locks, MAINTENANCE_LEASE_FILE), 'utf8').trim(), String(process.pid));
    const started = Date.now();
    assert.equal(await lease.tryAcquire('run-2', now, TTL), undefined, 'a live holder keeps it');
    assert.ok(Date.now() - started < 1000, 'no waiting');
    await lease.release(first);
    assert.ok(!existsSync(path.join(locks, MAINTENANCE_LEASE_FILE)));
    const second = await lease.tryAcquire('run-2', now, TTL);
    assert.ok(second);
    await lease.release(second);
  });

  it('takes over a lease older than its ttl even though its holder still runs, and the old holder releasing it leaves the new one', async () => {
    const lease = new FileMaintenanceLease(locks);
    const now = Date.now();
    const old = await lease.tryAcquire('stuck', now, TTL);
    assert.ok(old);
    assert.equal(await lease.tryAcquire('next', now + TTL - 1000, TTL), undefined, 'not yet abandoned');
    const taken = await lease.tryAcquire('next', now + TTL + 1000, TTL);
    assert.ok(taken, 'older than the ttl: abandoned');
    await lease.release(old);
    assert.ok(existsSync(path.join(locks, MAINTENANCE_LEASE_FILE)), "the stuck run's release does not remove the new holder's lease");
    assert.equal(await lease.tryAcquire('third', Date.now(), TTL), undefined, 'the new holder keeps it');
    await lease.release(taken);
    assert.ok(!existsSync(path.join(locks, MAINTENANCE_LEASE_FILE)));
  });

  it('takes over at once a lease whose process is gone (killed at maxtime)', async () => {
    mkdirSync(locks, { recursive: true });
    const file = path.join(locks, MAINTENANCE_LEASE_FILE);
    // A pid no process has (above Linux's pid_max).
    writeFileSync(file, '4194999\n');
    const t = new Date();
    utimesSync(file, t, t);
    const lease = new FileMaintenanceLease(locks);
    const h = await lease.tryAcquire('after-kill', Date.now(), TTL);
    assert.ok(h);
    assert.equal(readFileSync(file, 'utf8').trim(), String(process.pid));
    await lease.release(h);
  });
});
