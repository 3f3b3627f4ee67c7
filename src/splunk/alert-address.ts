/**
 * Which address a result row is about. Only a syntactically valid IPv4 or IPv6 address
 * is accepted: the value is attacker-influenced (it came through a log line), and it is
 * later put into URLs, reports and firewall commands.
 */
import { IpAddress, parseIpAddress } from '../address/ip-address';
import { fail, ok, Result } from '../result';
import { ownValue } from './field-map';
import type { FieldValue, ResultFields } from './results-file';

export const DEFAULT_ADDRESS_FIELDS: readonly string[] = ['src_ip', 'src', 'ip'];

export interface AlertAddress {
  readonly address: IpAddress;
  /** The row field it came from. */
  readonly field: string;
}

export type AddressErrorKind = 'no_address' | 'invalid_address' | 'multivalue';

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
    const address = parseIpAddress(value);
    if (!address.ok) return fail('invalid_address', `field ${name}: ${address.error.message}`);
    return ok({ address: address.value, field: name });
  }
  return fail('no_address', `row has no address in any of the fields ${fieldNames.join(', ')} (set the address_fields param to the field your search outputs)`);
}
