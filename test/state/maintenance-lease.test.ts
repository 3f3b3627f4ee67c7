/**
 * The file maintenance lease: one holder at a time, no waiting, taken over when abandoned
 * (older than its ttl, or its process gone), and a release never removes a lease someone
 * else took over.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileState } from '../../src/state/file-state';
import type { LeaseHandle } from '../../src/state/shared-state';
import { dataLayout } from '../../src/store/data-dir';

const MAINTENANCE_LEASE_FILE = 'maintenance.lock';

/** The file store's leases, as the maintenance run uses them. */
function fileLease(locks: string) {
  const leases = fileState(dataLayout(path.dirname(locks))).leases;
  const unwrap = <T>(r: { ok: true; value: T } | { ok: false; error: { message: string } }): T => {
    if (!r.ok) throw new Error(r.error.message);
    return r.value;
  };
  return {
    tryAcquire: async (holder: string, nowMs: number, ttlMs: number) => unwrap(await leases.tryAcquire('maintenance', holder, nowMs, ttlMs)),
    release: async (h: LeaseHandle) => unwrap(await leases.release(h)),
  };
}

const TTL = 60_000;

describe('the file store\'s maintenance lease', () => {
  let root: string;
  let locks: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-lease-unit-'));
    locks = path.join(root, 'locks');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is held by one holder at a time, without waiting; free again after release', async () => {
    const lease = fileLease(locks);
    const now = Date.now();
    const first = await lease.tryAcquire('run-1', now, TTL);
    assert.ok(first, 'the first run takes it (the locks folder is made on first use)');
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
    const lease = fileLease(locks);
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
    const lease = fileLease(locks);
    const h = await lease.tryAcquire('after-kill', Date.now(), TTL);
    assert.ok(h);
    assert.equal(readFileSync(file, 'utf8').trim(), String(process.pid));
    await lease.release(h);
  });
});
