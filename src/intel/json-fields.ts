/**
 * Reading typed fields out of an untrusted provider response.
 *
 * Providers leave fields out or send null for "no data" (AbuseIPDB does both in real
 * responses), so absent and null both read as `null`. A field of the wrong *type* is
 * different: it means the API changed or we are talking to something else, and a
 * silently-null reputation score would turn into a wrong verdict. The reader therefore
 * records the first type problem and the parser turns it into a `malformed_response`.
 */

export type JsonObject = { readonly [key: string]: unknown };

export function asJsonObject(value: unknown): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined;
}

/** A short description of a JSON value for an error message (never the whole value). */
export function describeJsonValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `the string ${JSON.stringify(value.slice(0, 40))}…` : `the string ${JSON.stringify(value)}`;
    case 'number':
    case 'boolean':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

export class JsonFieldReader {
  private firstProblem: string | undefined;

  /** `where` names the object in messages, e.g. `data.attributes`. */
  constructor(private readonly object: JsonObject, private readonly where: string) {}

  /** The first wrongly-typed field, as a sentence; undefined when every read was fine. */
  get problem(): string | undefined {
    return this.firstProblem;
  }

  has(key: string): boolean {
    const v = this.object[key];
    return v !== undefined && v !== null;
  }

  string(key: string): string | null {
    const v = this.object[key];
    if (v === undefined || v === null) return null;
    if (typeof v === 'string') return v;
    return this.wrong(key, v, 'a string');
  }

  boolean(key: string): boolean | null {
    const v = this.object[key];
    if (v === undefined || v === null) return null;
    if (typeof v === 'boolean') return v;
    return this.wrong(key, v, 'true or false');
  }

  /** A whole number in [min, max]. */
  integer(key: string, min: number, max: number): number | null {
    const v = this.object[key];
    if (v === undefined || v === null) return null;
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v;
    const range = max === Number.MAX_SAFE_INTEGER ? `a whole number >= ${min}` : `a whole number from ${min} to ${max}`;
    return this.wrong(key, v, range);
  }

  /** An array of strings; absent or null reads as empty. */
  stringArray(key: string): readonly string[] {
    const v = this.object[key];
    if (v === undefined || v === null) return [];
    if (Array.isArray(v) && v.every((item) => typeof item === 'string')) return v as string[];
    this.wrong(key, v, 'an array of strings');
    return [];
  }

  private wrong(key: string, value: unknown, expected: string): null {
    if (this.firstProblem === undefined) {
      this.firstProblem = `${this.where}.${key} is ${describeJsonValue(value)}, expected ${expected}`;
    }
    return null;
  }
}
