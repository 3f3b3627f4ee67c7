/**
 * Maps keyed by names that come from data: result columns, payload keys, param names.
 * A plain object literal answers `constructor`, `toString` or `__proto__` from
 * Object.prototype even when the data never named them (a function where a string was
 * expected), and assigning `__proto__` swaps its prototype instead of storing a value. So
 * such maps have no prototype, and every lookup by a data-given name asks for an own value.
 */

/** An empty record without a prototype: every key, `__proto__` included, is an ordinary key. */
export function fieldMap<V>(): Record<string, V> {
  return Object.create(null) as Record<string, V>;
}

/** The value stored under `name` itself, never one inherited from a prototype. */
export function ownValue<V>(map: Readonly<Record<string, V>>, name: string): V | undefined {
  return Object.prototype.hasOwnProperty.call(map, name) ? map[name] : undefined;
}
