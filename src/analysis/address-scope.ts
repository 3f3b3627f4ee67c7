/**
 * Where a log's source "address" points: the failed-login summaries flag every reported
 * source so that nothing private, loopback or unparseable is offered for outside lookups.
 * This is a flag for reports only; the binding decision is made by the address gate in
 * src/intel/.
 */
import * as ipaddr from 'ipaddr.js';

export type AddressScope =
  | 'public'
  | 'private'
  | 'loopback'
  | 'link-local'
  | 'reserved'
  | 'hostname'
  | 'invalid';

export interface AddressClass {
  readonly scope: AddressScope;
  /** True only for a globally routable unicast IP literal. */
  readonly isPublic: boolean;
}

// ipaddr.js range names, grouped. Anything not listed (multicast, broadcast, documentation,
// 6to4, teredo, benchmarking, ...) is treated as reserved: never public.
const PRIVATE_RANGES = new Set(['private', 'uniqueLocal', 'carrierGradeNat']);

// RFC 952/1123 host names as PAM's rhost= prints them (no trailing dot needed).
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export function classifyAddress(address: string): AddressClass {
  // Only dotted-quad IPv4: ipaddr.js also accepts "127.1" or "12345", which in a log are
  // far more likely to be host names or garbage than abbreviated addresses.
  if (ipaddr.IPv4.isValidFourPartDecimal(address) || ipaddr.IPv6.isValid(address)) {
    // process() unwraps IPv4-mapped IPv6 (::ffff:10.0.0.1 is private, not "ipv4Mapped").
    const range = ipaddr.process(address).range();
    if (range === 'unicast') return { scope: 'public', isPublic: true };
    if (range === 'loopback') return { scope: 'loopback', isPublic: false };
    if (range === 'linkLocal') return { scope: 'link-local', isPublic: false };
    if (PRIVATE_RANGES.has(range)) return { scope: 'private', isPublic: false };
    return { scope: 'reserved', isPublic: false };
  }
  // A bare number or dotted digits that ipaddr.js refused is a malformed IP, not a host name.
  if (HOSTNAME.test(address) && !/^[\d.]+$/.test(address)) return { scope: 'hostname', isPublic: false };
  return { scope: 'invalid', isPublic: false };
}
