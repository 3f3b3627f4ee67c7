import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { dataLayout } from '../../src/store/data-dir';
import { kvStoreClient } from '../../src/store/kvstore-client';
import { kvState } from '../../src/state/kv-state';
import { kvQueue } from '../../src/state/kv-queue';
import { fileState } from '../../src/state/file-state';
import type { DeliverFunction } from '../../src/respond/discord-delivery';
import { startKvStoreStub } from '../support/kvstore-stub';
import { sharedStateContract } from './shared-state.contract';

const unwrap = <T>(r: { ok: true; value: T } | { ok: false; error: { kind: string; message: string } }): T => {
  if (!r.ok) throw new Error(`${r.error.kind}: ${r.error.message}`);
  return r.value;
};

sharedStateContract('KV store (two members, one KV store stub)', async () => {
  const stub = await startKvStoreStub();
  const roots = [mkdtempSync(path.join(tmpdir(), 'soar-kv-a-')), mkdtempSync(path.join(tmpdir(), 'soar-kv-b-'))];
  const member = (root: string) => kvState(kvStoreClient({ baseUrl: stub.url, sessionKey: stub.sessionKey }), dataLayout(root));
  const a = member(roots[0]!);
  const b = member(roots[1]!);
  return {
    a,
    b,
    cleanup: async () => {
      a.close();
      b.close();
      await stub.close();
      for (const r of roots) rmSync(r, { recursive: true, force: true });
    },
  };
});

describe('KV store outbox: this member\'s outbox files', () => {
  it('are counted, listed and delivered by this member\'s drain, before the shared documents; not by another member', async () => {
    const stub = await startKvStoreStub();
    const roots = [mkdtempSync(path.join(tmpdir(), 'soar-kv-a-')), mkdtempSync(path.join(tmpdir(), 'soar-kv-b-'))];
    const a = kvState(kvStoreClient({ baseUrl: stub.url, sessionKey: stub.sessionKey }), dataLayout(roots[0]!));
    const b = kvState(kvStoreClient({ baseUrl: stub.url, sessionKey: stub.sessionKey }), dataLayout(roots[1]!));
    try {
      const t0 = Date.UTC(2026, 11, 6, 12, 0, 0);
      const card = (n: number) => ({ incidentId: `INC-20261206-120000-00000${n}`, kind: 'incident', payload: { content: `card ${n}` } });
      // Queued while the run kept its state in files (splunkd out of reach).
      assert.equal(unwrap(await fileState(dataLayout(roots[0]!)).outbox.enqueue(card(1), t0)), 'queued');
      assert.equal(unwrap(await b.outbox.enqueue(card(2), t0 + 1)), 'queued');
      assert.equal(unwrap(await a.outbox.size()), 2);
      assert.equal(unwrap(await b.outbox.size()), 1, 'another member does not see this member\'s files');
      assert.deepEqual(unwrap(await a.outbox.waiting(t0 + 2)).map((w) => w.key), [`${card(1).incidentId}:incident`, `${card(2).incidentId}:incident`]);
      const posted: unknown[] = [];
      const deliver: DeliverFunction = async (payload) => {
        posted.push(payload);
        return { status: 'delivered', messageId: null, httpStatus: 204, attempts: 1 };
      };
      const report = unwrap(await a.outbox.drain(deliver, { now: () => t0 + 10, deadlineMs: t0 + 60_000, maxItems: 1 }));
      assert.deepEqual([report.delivered, report.leftForLater], [1, 1], 'maxItems counts both parts');
      assert.deepEqual(posted, [card(1).payload], 'the files first');
      const rest = unwrap(await a.outbox.drain(deliver, { now: () => t0 + 20, deadlineMs: t0 + 60_000 }));
      assert.equal(rest.delivered, 1);
      assert.equal(unwrap(await a.outbox.size()), 0);
      assert.equal(unwrap(await a.outbox.enqueue(card(1), t0 + 30)), 'already_delivered', 'delivered from the files: not queued again in the KV store');
    } finally {
      a.close();
      b.close();
      await stub.close();
      for (const r of roots) rmSync(r, { recursive: true, force: true });
    }
  });
});

describe('KV store state: pruning soar_state', () => {
  it('removes what no longer counts and keeps what still does', async () => {
    const stub = await startKvStoreStub();
    const root = mkdtempSync(path.join(tmpdir(), 'soar-kv-prune-'));
    const state = kvState(kvStoreClient({ baseUrl: stub.url, sessionKey: stub.sessionKey }), dataLayout(root));
    try {
      const now = Date.UTC(2026, 11, 6, 12, 0, 0);
      const hour = 3_600_000;
      const docs = new Map<string, Record<string, unknown>>([
        ['rev:old', { kind: 'revision', created_ms: now - 2 * hour }],
        ['rev:new', { kind: 'revision', created_ms: now - 60_000 }],
        ['quota:old', { kind: 'quota', at_ms: now - 3 * 24 * hour }],
        ['quota:today', { kind: 'quota', at_ms: now - hour }],
        ['penalty:lapsed', { kind: 'quota_penalty', until_ms: now - 1 }],
        ['penalty:running', { kind: 'quota_penalty', until_ms: now + hour }],
        ['flight:dead', { kind: 'flight', expires_ms: now - 2 * hour }],
        ['flight:live', { kind: 'flight', expires_ms: now + 60_000 }],
        ['lease:dead', { kind: 'lease', expires_ms: now - 2 * hour }],
        ['delivered:old', { kind: 'outbox_delivered', delivered_ms: now - 31 * 24 * hour }],
        ['delivered:new', { kind: 'outbox_delivered', delivered_ms: now - 24 * hour }],
        ['outbox:waiting', { kind: 'outbox', created_ms: now - 40 * 24 * hour }],
        ['notified:1.2.3.4', { kind: 'notified', notified_at_ms: now - 40 * 24 * hour }],
      ]);
      const coll = new Map<string, { _key: string } & Record<string, unknown>>();
      for (const [k, v] of docs) coll.set(k, { _key: k, ...v });
      stub.collections.set('soar_state', coll);
      const r = await state.prune(now);
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      assert.deepEqual(stub.docs('soar_state').map((d) => d._key).sort(), ['delivered:new', 'flight:live', 'notified:1.2.3.4', 'outbox:waiting', 'penalty:running', 'quota:today', 'rev:new']);
      stub.unavailable = true;
      assert.equal((await state.prune(now)).ok, false, 'a KV store that is down: a failure, not a throw');
    } finally {
      state.close();
      await stub.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('KV store queue: the address cap', () => {
  it('a new address is not queued while maxAddresses wait; a queued one still takes more incidents; room frees as addresses leave', async () => {
    const stub = await startKvStoreStub();
    const kv = kvStoreClient({ baseUrl: stub.url, sessionKey: stub.sessionKey });
    const queue = kvQueue(kv, { maxAddresses: 2, now: Date.now, sleep: async () => undefined, random: () => 0.5, host: 'member-a' });
    const ref = (n: number) => ({ incidentId: `INC-20261206-120000-00000${n}`, sid: 'sid-cap', rid: String(n), detection: 'SSH Brute Force' });
    const T = Date.UTC(2026, 11, 6, 12);
    try {
      assert.ok((await queue.enqueue('198.51.100.1', ref(1), T)).ok);
      assert.ok((await queue.enqueue('198.51.100.2', ref(2), T)).ok);
      const third = await queue.enqueue('198.51.100.3', ref(3), T);
      assert.ok(third.ok && third.value === undefined, 'full: a new address is not queued');
      const again = await queue.enqueue('198.51.100.1', ref(4), T);
      assert.equal(again.ok && again.value?.refs.length, 2, 'a queued address still takes incidents');
      const claim = await queue.claim('198.51.100.2', T);
      assert.ok(claim.ok && claim.value);
      assert.ok((await queue.complete(claim.value)).ok);
      const fourth = await queue.enqueue('198.51.100.3', ref(5), T);
      assert.equal(fourth.ok && fourth.value?.address, '198.51.100.3', 'room again once an address left');
      const big = stub.requests.filter((r) => r.method === 'GET' && r.search.includes('skip='));
      assert.ok(big.length >= 1 && big.every((r) => r.search.includes('limit=1')), 'the cap is checked with a one-key query, not a listing');
    } finally {
      kv.close();
      await stub.close();
    }
  });
});
