/**
 * The KV store when splunkd can be reached, else this host's files — decided by the run's first
 * state operation. The alert action gets splunkd's address and a session key with every alert;
 * when that splunkd cannot be reached at all, refuses the session key, or answers something
 * that is not the KV store's REST API, the run keeps its state in the data directory (correct on
 * this host; on a cluster the members then disagree until the KV store is back) with one WARN
 * naming the cause. A KV store that answers "unavailable" (starting, down, read-only) is not a
 * reason to switch: that failure goes to the caller, which spools the row (splunk/alert-run.ts).
 * Once an operation succeeded, the store is never switched within the run.
 */
import type { StateErrorKind, SharedState } from './shared-state';

/** Failures that mean "this is not a usable KV store for this run" rather than "try later". */
const FALLBACK_KINDS: ReadonlySet<StateErrorKind> = new Set(['io', 'unauthorized', 'protocol']);

type AnyFn = (...args: unknown[]) => Promise<unknown>;

function failureKind(value: unknown): StateErrorKind | undefined {
  if (typeof value !== 'object' || value === null || !('ok' in value) || (value as { ok: unknown }).ok !== false) return undefined;
  return (value as unknown as { error: { kind: StateErrorKind } }).error.kind;
}

export function fallbackState(primary: SharedState, fallback: () => SharedState, onFallback: (kind: StateErrorKind, message: string) => void): SharedState {
  let current: SharedState = primary;
  let settled = false;
  // Every part of the state is an object of async methods; the rest are its properties.
  const part = <K extends Exclude<keyof SharedState, 'kind' | 'kvstore' | 'roundTrips' | 'close'>>(name: K): SharedState[K] => {
    const methods = Object.keys(primary[name]) as (keyof SharedState[K])[];
    const wrapped = {} as Record<keyof SharedState[K], AnyFn>;
    for (const m of methods) {
      wrapped[m] = async (...args: unknown[]) => {
        const call = () => (current[name][m] as unknown as AnyFn).apply(current[name], args);
        const result = await call();
        if (settled) return result;
        const kind = failureKind(result);
        if (kind !== undefined && FALLBACK_KINDS.has(kind)) {
          settled = true;
          onFallback(kind, (result as { error: { message: string } }).error.message);
          primary.close();
          current = fallback();
          return call();
        }
        if (kind === undefined) settled = true;
        return result;
      };
    }
    return wrapped as unknown as SharedState[K];
  };
  return {
    get kind() {
      return current.kind;
    },
    get kvstore() {
      return current.kvstore;
    },
    intel: part('intel'),
    flights: part('flights'),
    quota: part('quota'),
    incidents: part('incidents'),
    notifications: part('notifications'),
    blocklist: part('blocklist'),
    leases: part('leases'),
    queue: part('queue'),
    outbox: part('outbox'),
    prune: (nowMs) => current.prune(nowMs),
    roundTrips: () => primary.roundTrips(),
    close: () => current.close(),
  };
}
