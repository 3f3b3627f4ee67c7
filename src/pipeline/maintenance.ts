/**
 * The incident side of a maintenance run (splunk/maintenance-run.ts): the follow-up work of
 * every alert run's finish(), with maintenance limits instead of the per-run ones — expired
 * blocks removed (each with an 'expired' incident event), the full-disk sweep, the outbox
 * delivered (notifications waiting for their backoff keep waiting: the backoff paces the
 * retries) and due queued addresses enriched. The queue and the secrets are only touched when
 * the outbox (the shared state's: on the KV store, what any member queued) or the queue holds
 * something: a run with nothing to do reads a few folders and counts the outbox.
 */
import { drainAll, IncidentPipeline } from './incident-pipeline';
import type { MaintenanceReport } from '../splunk/maintenance-run';
import type { Logger } from '../splunk/log';

/** Notifications delivered, and queued addresses enriched, per maintenance run at most (the time budget may stop it sooner). */
export const MAINTENANCE_ITEMS = 25;

export async function maintainIncidents(pipeline: IncidentPipeline, log: Logger): Promise<MaintenanceReport> {
  const expiredBlocks = await pipeline.expireBlocks(log);
  pipeline.sweepFullDisk(log);
  // What cannot be counted counts as pending: the drain says what failed.
  const outboxWaiting = await pipeline.state.outbox.size();
  const queued = outboxWaiting.ok && outboxWaiting.value === 0 ? await pipeline.state.queue.size() : undefined;
  const pending = !outboxWaiting.ok || outboxWaiting.value > 0 || queued === undefined || !queued.ok || queued.value > 0;
  const drained = pending ? await drainAll(pipeline, log, { maxItems: MAINTENANCE_ITEMS, includeWaiting: false }) : undefined;
  await pipeline.importFileStore(log);
  // Once a minute per cluster: what the shared state no longer needs (state/kv-state.ts pruneQueries).
  const pruned = await pipeline.state.prune(pipeline.deps.now());
  if (!pruned.ok) log.warn('Shared state not pruned', { reason: pruned.error.kind, message: `${pruned.error.message}; the next maintenance run tries again` });
  const late = await pipeline.flush();
  pipeline.closeEvents(log);
  const outbox = drained?.outbox ?? [];
  const sum = (pick: (r: (typeof outbox)[number]) => number): number => outbox.reduce((n, r) => n + pick(r), 0);
  return {
    done: {
      delivered: sum((r) => r.delivered),
      dead_lettered: sum((r) => r.deadLettered),
      retry_later: sum((r) => r.retryLater),
      enriched: drained?.enriched ?? 0,
      expired_blocks: expiredBlocks,
      waiting_for_key: drained?.waitingForKey ?? 0,
    },
    // Tried and not delivered, or due and not reached; a notification waiting for its backoff is not tried, so not left.
    left: sum((r) => r.retryLater + r.deadLettered + r.leftForLater) + outbox.filter((r) => r.stoppedBecause !== null).length + late.degraded,
    failed: late.failed,
  };
}
