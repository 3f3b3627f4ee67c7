/**
 * The deferred-enrichment queue of the file store: the queue folder of this host's data
 * directory (intel/enrichment-queue.ts), behind the QueueStore interface. Correct for every
 * process on one host; another member's queue is its own.
 */
import { EnrichmentQueue } from '../intel/enrichment-queue';
import { guardStorage } from '../respond/storage-failure';
import { ok } from '../result';
import type { DataLayout } from '../store/data-dir';
import type { QueueStore, StateResult } from './shared-state';

export function fileQueue(layout: DataLayout): QueueStore {
  const queue = new EnrichmentQueue(layout.queue);
  const guarded = async <T>(what: string, fn: () => T): Promise<StateResult<T>> => guardStorage(what, () => ok(fn()));
  return {
    enqueue: (address, ref, nowMs, notBefore, waitingFor) => guarded('queueing the enrichment', () => queue.enqueue(address, ref, nowMs, notBefore, waitingFor)),
    enqueueMany: (address, refs, nowMs, notBefore, waitingFor) => guarded('queueing the enrichment', () => queue.enqueueMany(address, refs, nowMs, notBefore, waitingFor)),
    size: () => guarded('counting the enrichment queue', () => queue.size()),
    expireNow: (nowMs) => guarded('expiring the enrichment queue', () => queue.expireNow(nowMs)),
    list: (nowMs) => guarded('reading the enrichment queue', () => queue.list(nowMs)),
    claim: (address, nowMs) => guarded('claiming a queued address', () => queue.claim(address, nowMs)),
    complete: (claim) => guarded('completing a queued address', () => queue.complete(claim)),
    release: (claim, nowMs, nextAttemptAt, lastError, waitingFor) => guarded('releasing a queued address', () => queue.release(claim, nowMs, nextAttemptAt, lastError, waitingFor)),
    recoverStaleClaims: (nowMs) => guarded('recovering queue claims', () => queue.recoverStaleClaims(nowMs)),
  };
}
