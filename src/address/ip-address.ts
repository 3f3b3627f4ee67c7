/**
 * The one parser for IP addresses that come from outside (alert rows, the CLI, provider
 * answers, files read back from disk). Everything past it takes an `IpAddress`, so an
 * address is validated and canonicalised once, at the edge, under one rule.
 *
 * The value is attacker-influenced (it came through a log line) and later goes into URLs,
 * file names, reports and firewall command lines, so the rule is strict:
 * - IPv4 only as a canonical dotted quad (net.isIPv4: no leading zeros, no inet_aton forms
 *   such as "010.0.0.1" = octal 8.0.0.1, "0x7f.1" or "2130706433", which read differently in
 *   different tools);
 * - IPv6 only as standard text both node:net and ipaddr.js accept, written out in RFC 5952
 *   form; IPv4-mapped (::ffff:a.b.c.d) is how a dual-stack socket shows an IPv4 peer and
 *   becomes that IPv4 address;
 * - no zone id: a link-local scoped address names an interface of this host, not a peer.
 */
import { isIPv4, isIPv6 } from 'node:net';
import * as ipaddr from 'ipaddr.js';
import { fail, ok, Result } from '../result';

declare const ipAddressBrand: unique symbol;

/** A validated address in canonical form; only `parseIpAddress` makes one. */
export interface IpAddress {
  /** Dotted quad, or RFC 5952 IPv6 (lower case, zeros compressed). */
  readonly text: string;
  readonly family: 4 | 6;
  readonly [ipAddressBrand]: true;
}

/** Longest textual IPv6 (with an embedded IPv4) is 45 characters. */
const MAX_ADDRESS_CHARS = 45;

/** ipaddr.js reads "::a.b.c.d" as IPv4-mapped; RFC 4291 §2.5.5.1 says it is IPv4-compatible ::xxxx:xxxx. */
const IPV4_COMPATIBLE_TEXT = /^::(\d{1,3}(?:\.\d{1,3}){3})$/;

/** The ipaddr.js value behind each address, for range checks (see `ipaddrValue`). */
const values = new WeakMap<IpAddress, ipaddr.IPv4 | ipaddr.IPv6>();

/** A JSON string literal in printable ASCII: line breaks, other controls and bidi characters escaped, never raw. */
function quoted(text: string): string {
  return JSON.stringify(text).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A short description of a rejected value for a log line or the terminal. */
function describeValue(value: string): string {
  return value.length > 40 ? `${quoted(value.slice(0, 40))}… (${value.length} chars)` : quoted(value);
}

function made(value: ipaddr.IPv4 | ipaddr.IPv6): IpAddress {
  const address = Object.freeze(
    value.kind() === 'ipv4'
      ? { text: value.toString(), family: 4 as const }
      : { text: (value as ipaddr.IPv6).toRFC5952String(), family: 6 as const },
  ) as IpAddress;
  values.set(address, value);
  return address;
}

function ipv6Value(text: string): ipaddr.IPv6 {
  const compatible = IPV4_COMPATIBLE_TEXT.exec(text);
  if (compatible === null) return ipaddr.IPv6.parse(text);
  const o = ipaddr.IPv4.parse(compatible[1]).octets;
  return new ipaddr.IPv6([0, 0, 0, 0, 0, 0, (o[0] << 8) | o[1], (o[2] << 8) | o[3]]);
}

/** Surrounding white space is ignored; anything else that is not exactly one address is refused. */
export function parseIpAddress(text: string): Result<IpAddress, 'invalid_address'> {
  const value = text.trim();
  if (value.length === 0 || value.length > MAX_ADDRESS_CHARS) {
    return fail('invalid_address', `${describeValue(text)} is not an IPv4 or IPv6 address`);
  }
  // net.isIPv4 admits only canonical dotted quads (no leading zeros): the text is the canonical form.
  if (isIPv4(value)) return ok(made(ipaddr.IPv4.parse(value)));
  if (value.includes('%')) {
    return fail('invalid_address', `${describeValue(text)} carries an IPv6 zone id: link-local scoped addresses cannot be attributed to an attacker`);
  }
  if (isIPv6(value) && ipaddr.IPv6.isValid(value)) {
    const v6 = ipv6Value(value);
    return ok(made(v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6));
  }
  return fail('invalid_address', `${describeValue(text)} is not an IPv4 or IPv6 address`);
}

/** The address as an ipaddr.js value, for prefix matching (the address gate's ranges). */
export function ipaddrValue(address: IpAddress): ipaddr.IPv4 | ipaddr.IPv6 {
  // Every IpAddress comes from parseIpAddress, which records its value; the canonical text
  // is valid ipaddr.js input all the same.
  return values.get(address) ?? ipaddr.parse(address.text);
}
