/**
 * Errors are values: every fallible operation in the core returns a Result whose
 * error has a machine-readable kind and a message a person can act on.
 */
export interface Failure<K extends string = string> {
  readonly kind: K;
  readonly message: string;
}

export type Result<T, K extends string = string> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: Failure<K> };

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function fail<K extends string>(kind: K, message: string): { ok: false; error: Failure<K> } {
  return { ok: false, error: { kind, message } };
}
