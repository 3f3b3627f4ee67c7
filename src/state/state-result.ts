import { fail } from '../result';
import type { StateResult } from './shared-state';

/** A file store result as a state result: lock and disk failures keep their kind; anything else is the input's fault. */
export function asState<T>(r: { ok: true; value: T } | { ok: false; error: { kind: string; message: string } }): StateResult<T> {
  if (r.ok) return r;
  const kind = r.error.kind === 'lock_timeout' || r.error.kind === 'io_error' ? r.error.kind : 'invalid_input';
  return fail(kind, r.error.message);
}
