/**
 * Which address a result row is about. Only a syntactically valid IPv4 or IPv6 address
 * is accepted: the value is attacker-influenced (it came through a log line), and it is
 * later put into URLs, reports and firewall commands.
 */
import { isIPv4, isIPv6 } from 'node:net';
import * as ipaddr from 'ipaddr.js';
import { fail, ok, Result } from '../result';
import { ownValue } from './field-map';
import type { FieldValue, ResultFields } from './results-file';

export const DEFAULT_ADDRESS_FIELDS: readonly string[] = ['src_ip', 'src', 'ip'];

/** Longest textual IPv6 (with an embedded IPv4) is 45 characters. */
const MAX_ADDRESS_CHARS = 45;

export interface AlertAddress {
  /** Canonical form: dotted quad, or RFC 5952 IPv6; IPv4-mapped IPv6 becomes IPv4. */
  readonly address: string;
  readonly family: 4 | 6;
  /** The row field it came from. */
  readonly field: string;
}

export type AddressErrorKind = 'no_address' | 'invalid_address' | 'multivalue';

/** A short, safe description of a rejected value for the log. */
export function describeValue(value: string): string {
  return value.length > 40 ? `${JSON.stringify(value.slice(0, 40))}… (${value.length} chars)` : JSON.stringify(value);
}

export function normalizeAddress(text: string): Result<{ address: string; family: 4 | 6 }, 'invalid_address'> {
  const value = text.trim();
  if (value.length === 0 || value.length > MAX_ADDRESS_CHARS) {
    return fail('invalid_address', `${describeValue(text)} is not an IPv4 or IPv6 address`);
  }
  // net.isIPv4 admits only canonical dotted quads (no leading zeros): the text is the canonical form.
  if (isIPv4(value)) return ok({ address: value, family: 4 });
  if (value.includes('%')) {
    return fail('invalid_address', `${describeValue(text)} carries an IPv6 zone id: link-local scoped addresses cannot be attributed to an attacker`);
  }
  if (isIPv6(value) && ipaddr.IPv6.isValid(value)) {
    const v6 = ipaddr.IPv6.parse(value);
    if (v6.isIPv4MappedAddress()) return ok({ address: v6.toIPv4Address().toString(), family: 4 });
    return ok({ address: v6.toRFC5952String(), family: 6 });
  }
  return fail('invalid_address', `${describeValue(text)} is not an IPv4 or IPv6 address`);
}

function firstValue(value: FieldValue | undefined): string | readonly string[] | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  if (!Array.isArray(value)) return undefined;
  const present = (value as readonly unknown[]).filter((v): v is string => typeof v === 'string' && v.trim() !== '');
  if (present.length === 0) return undefined;
  return present.length === 1 ? present[0] : present;
}

/** The first configured field that holds a value decides; it must be a valid address. */
export function alertAddress(fields: ResultFields, fieldNames: readonly string[]): Result<AlertAddress, AddressErrorKind> {
  for (const name of fieldNames) {
    // The field names are the admin's, the row's keys the search's: only the row's own values count.
    const value = firstValue(ownValue(fields, name));
    if (value === undefined) continue;
    if (typeof value !== 'string') {
      return fail('multivalue', `field ${name} holds ${value.length} values; one attacker address per result row is expected (split the row with mvexpand ${name})`);
    }
    const normalized = normalizeAddress(value);
    if (!normalized.ok) return fail('invalid_address', `field ${name}: ${normalized.error.message}`);
    return ok({ ...normalized.value, field: name });
  }
  return fail('no_address', `row has no address in any of the fields ${fieldNames.join(', ')} (set the address_fields param to the field your search outputs)`);
}
