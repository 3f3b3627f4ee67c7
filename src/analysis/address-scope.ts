/**
 * Where a log's source "address" points: the failed-login summaries flag every reported
 * source so that nothing private, loopback or unparseable is offered for outside lookups.
 * Whether an IP is public is the address gate's decision (src/intel/), the same one the
 * alert action makes, so the CLI and Splunk always agree; this only adds the coarse scope
 * label reports show and recognises host names.
 */
import * as ipaddr from 'ipaddr.js';
import { parseIpAddress } from '../address/ip-address';
import { classifyAddress as gateAddress } from '../intel/address-gate';

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

// RFC 952/1123 host names as PAM's rhost= prints them (no trailing dot needed).
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export function classifyAddress(address: string): AddressClass {
  // Only dotted-quad IPv4: ipaddr.js also accepts "127.1" or "12345", which in a log are
  // far more likely to be host names or garbage than abbreviated addresses.
  if (ipaddr.IPv4.isValidFourPartDecimal(address) || ipaddr.IPv6.isValid(address)) {
    // A zone id ties an address to one of this host's links: the scope is the address's,
    // and it is never public (the gate never sees zone ids; the address parser refuses them).
    const zoneAt = address.indexOf('%');
    const parsed = parseIpAddress(zoneAt >= 0 ? address.slice(0, zoneAt) : address);
    if (!parsed.ok) return { scope: 'invalid', isPublic: false };
    const gate = gateAddress(parsed.value);
    if (gate.public) return zoneAt >= 0 ? { scope: 'reserved', isPublic: false } : { scope: 'public', isPublic: true };
    const reason = gate.reason ?? '';
    if (reason.startsWith('loopback')) return { scope: 'loopback', isPublic: false };
    if (reason.startsWith('link-local')) return { scope: 'link-local', isPublic: false };
    if (/^(private|unique local|carrier-grade NAT)/.test(reason)) return { scope: 'private', isPublic: false };
    return { scope: 'reserved', isPublic: false };
  }
  // A bare number or dotted digits that ipaddr.js refused is a malformed IP, not a host name.
  if (HOSTNAME.test(address) && !/^[\d.]+$/.test(address)) return { scope: 'hostname', isPublic: false };
  return { scope: 'invalid', isPublic: false };
}
