/**
 * The address gate: decides whether an address may leave the host for a reputation lookup.
 *
 * "Public" here means: an ordinary global unicast address that can be the source of an
 * attack and be attributed to someone on the Internet. Everything else is never sent to
 * VirusTotal or AbuseIPDB: private and internal addresses would leak our topology, and
 * special-purpose addresses have no reputation to find (looking them up only burns quota).
 *
 * Coverage: every entry of the IANA IPv4 and IPv6 Special-Purpose Address Registries
 * (RFC 6890 and its updates, as of 2025), plus IPv4 multicast (224/4, RFC 5771), IPv6
 * deprecated site-local (fec0::/10) and everything outside IPv6 global unicast 2000::/3.
 *
 * Decisions that deliberately differ from the registries' "globally reachable" column:
 * - Anycast service addresses and identifier prefixes the registries list as globally
 *   reachable (192.0.0.9 PCP, 192.0.0.10 TURN, AS112 192.31.196/24, 192.175.48/24,
 *   2620:4f:8000::/48, 2001:4:112::/48, AMT 192.52.193/24 and 2001:3::/32, 2001:1::1-3,
 *   ORCHIDv2 2001:20::/28, drone remote ID 2001:30::/28) are *not* public: they are
 *   destinations of well-known services or non-routable identifiers, never the source of
 *   an SSH session, and a lookup finds nothing attributable. One rule — every registry
 *   entry stays home — is easier to reason about than a per-entry exception list.
 *
 * IPv6 transition ranges:
 * - ::ffff:0:0/96 (IPv4-mapped, RFC 4291) is how a dual-stack socket shows an IPv4 peer:
 *   normalised to the IPv4 address and classified as IPv4.
 * - 64:ff9b::/96 (NAT64 well-known prefix, RFC 6052) embeds the IPv4 address of the real
 *   peer (e.g. an IPv6-only server behind SIIT-DC sees every IPv4 client this way), and
 *   RFC 6052 §3.1 forbids it for non-global IPv4. It is normalised to the embedded IPv4
 *   address and classified as IPv4, so 64:ff9b::a00:1 is 10.0.0.1, "private (RFC 1918) via NAT64", and
 *   64:ff9b::808:808 is looked up as 8.8.8.8. `translatedFrom` keeps the IPv6 form
 *   (in RFC 5952 mixed notation, 64:ff9b::8.8.8.8).
 * - 64:ff9b:1::/48 (local-use NAT64, RFC 8215): how the IPv4 address is embedded depends
 *   on the operator's prefix length, so it cannot be recovered: not public.
 * - 2002::/16 (6to4, RFC 3056) and 2001::/32 (Teredo, RFC 4380): not public. Both are
 *   deprecated tunnelling schemes whose addresses identify a tunnel endpoint rather than
 *   an attributable host (6to4 embeds the relay router's IPv4, Teredo an obfuscated NAT
 *   mapping), and reputation services key on the IPv4 side. The reason names the embedded
 *   IPv4 address so an analyst can look that up by hand.
 * - ::/96 (IPv4-compatible, deprecated by RFC 4291) and ::ffff:0:0:0/96 (IPv4-translated,
 *   RFC 2765) are outside 2000::/3 and never appear on the wire: not public.
 *
 * The gate takes an `IpAddress` (src/address/ip-address.ts): the address was parsed once,
 * strictly, at the edge it came in through, and is not parsed again here. An IPv4-mapped
 * address has already become IPv4 there, and zone-scoped addresses never get this far.
 */
import * as ipaddr from 'ipaddr.js';
import { IpAddress, ipaddrValue, parseIpAddress } from '../address/ip-address';
import { fail, ok, Result } from '../result';

type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;

export interface Cidr {
  readonly family: 4 | 6;
  /** Network address in canonical form (dotted quad or RFC 5952). */
  readonly network: string;
  readonly prefix: number;
  /** `network/prefix`, for messages such as "allowlisted (10.0.0.0/8)". */
  readonly text: string;
}

export interface AddressClass {
  /**
   * The address a lookup would ask about, canonical: an address in the NAT64
   * well-known prefix (64:ff9b::/96) becomes the embedded IPv4 address.
   */
  readonly address: string;
  /** The same address as a typed value, for the blocklist, the ledger and the firewall commands. */
  readonly ip: IpAddress;
  readonly family: 4 | 6;
  /** true: may be looked up. false: stays on this host (see `reason`). */
  readonly public: boolean;
  /** Why the address is not public; absent when it is. */
  readonly reason?: string;
  /** The IPv6 form the address arrived in (64:ff9b::a.b.c.d), when it was normalised to IPv4. */
  readonly translatedFrom?: string;
}

export interface SpecialRange {
  readonly cidr: string;
  readonly reason: string;
}

/** IANA IPv4 Special-Purpose Address Registry, plus multicast. */
export const IPV4_SPECIAL_RANGES: readonly SpecialRange[] = [
  { cidr: '0.0.0.0/32', reason: 'unspecified (RFC 1122)' },
  { cidr: '0.0.0.0/8', reason: 'this network (RFC 791)' },
  { cidr: '10.0.0.0/8', reason: 'private (RFC 1918)' },
  { cidr: '100.64.0.0/10', reason: 'carrier-grade NAT (RFC 6598)' },
  { cidr: '127.0.0.0/8', reason: 'loopback (RFC 1122)' },
  { cidr: '169.254.0.0/16', reason: 'link-local (RFC 3927)' },
  { cidr: '172.16.0.0/12', reason: 'private (RFC 1918)' },
  { cidr: '192.0.0.0/24', reason: 'IETF protocol assignments (RFC 6890)' },
  { cidr: '192.0.0.0/29', reason: 'DS-Lite (RFC 7335)' },
  { cidr: '192.0.0.8/32', reason: 'IPv4 dummy address (RFC 7600)' },
  { cidr: '192.0.0.9/32', reason: 'PCP anycast (RFC 7723)' },
  { cidr: '192.0.0.10/32', reason: 'TURN anycast (RFC 8155)' },
  { cidr: '192.0.0.170/31', reason: 'NAT64/DNS64 discovery (RFC 8880)' },
  { cidr: '192.0.2.0/24', reason: 'documentation (RFC 5737)' },
  { cidr: '192.31.196.0/24', reason: 'AS112 (RFC 7535)' },
  { cidr: '192.52.193.0/24', reason: 'AMT (RFC 7450)' },
  { cidr: '192.88.99.0/24', reason: '6to4 relay anycast (deprecated, RFC 7526)' },
  { cidr: '192.168.0.0/16', reason: 'private (RFC 1918)' },
  { cidr: '192.175.48.0/24', reason: 'AS112 direct delegation (RFC 7534)' },
  { cidr: '198.18.0.0/15', reason: 'benchmarking (RFC 2544)' },
  { cidr: '198.51.100.0/24', reason: 'documentation (RFC 5737)' },
  { cidr: '203.0.113.0/24', reason: 'documentation (RFC 5737)' },
  { cidr: '224.0.0.0/4', reason: 'multicast (RFC 5771)' },
  { cidr: '240.0.0.0/4', reason: 'reserved (RFC 1112)' },
  { cidr: '255.255.255.255/32', reason: 'broadcast (RFC 919)' },
];

const TEREDO = '2001::/32';
const SIX_TO_FOUR = '2002::/16';

/**
 * IANA IPv6 Special-Purpose Address Registry, plus multicast, deprecated site-local and
 * link-local. ::ffff:0:0/96 and 64:ff9b::/96 are handled before this table (normalised to
 * IPv4); anything else outside 2000::/3 falls back to "reserved".
 */
export const IPV6_SPECIAL_RANGES: readonly SpecialRange[] = [
  { cidr: '::/128', reason: 'unspecified (RFC 4291)' },
  { cidr: '::1/128', reason: 'loopback (RFC 4291)' },
  { cidr: '::/96', reason: 'IPv4-compatible (deprecated, RFC 4291)' },
  { cidr: '::ffff:0:0:0/96', reason: 'IPv4-translated (RFC 2765)' },
  { cidr: '64:ff9b:1::/48', reason: 'local-use IPv4/IPv6 translation (RFC 8215)' },
  { cidr: '100::/64', reason: 'discard-only (RFC 6666)' },
  { cidr: '2001::/23', reason: 'IETF protocol assignments (RFC 2928)' },
  { cidr: TEREDO, reason: 'Teredo (RFC 4380)' },
  { cidr: '2001:1::1/128', reason: 'PCP anycast (RFC 7723)' },
  { cidr: '2001:1::2/128', reason: 'TURN anycast (RFC 8155)' },
  { cidr: '2001:1::3/128', reason: 'DNS-SD SRP anycast (RFC 9665)' },
  { cidr: '2001:2::/48', reason: 'benchmarking (RFC 5180)' },
  { cidr: '2001:3::/32', reason: 'AMT (RFC 7450)' },
  { cidr: '2001:4:112::/48', reason: 'AS112-v6 (RFC 7535)' },
  { cidr: '2001:10::/28', reason: 'ORCHID (deprecated, RFC 4843)' },
  { cidr: '2001:20::/28', reason: 'ORCHIDv2 (RFC 7343)' },
  { cidr: '2001:30::/28', reason: 'drone remote ID (RFC 9374)' },
  { cidr: '2001:db8::/32', reason: 'documentation (RFC 3849)' },
  { cidr: SIX_TO_FOUR, reason: '6to4 (RFC 3056)' },
  { cidr: '2620:4f:8000::/48', reason: 'AS112 direct delegation (RFC 7534)' },
  { cidr: '3fff::/20', reason: 'documentation (RFC 9637)' },
  { cidr: '5f00::/16', reason: 'SRv6 SIDs (RFC 9602)' },
  { cidr: 'fc00::/7', reason: 'unique local (RFC 4193)' },
  { cidr: 'fe80::/10', reason: 'link-local (RFC 4291)' },
  { cidr: 'fec0::/10', reason: 'site-local (deprecated, RFC 3879)' },
  { cidr: 'ff00::/8', reason: 'multicast (RFC 4291)' },
];

const OUTSIDE_GLOBAL_UNICAST = 'reserved (outside global unicast 2000::/3)';

interface CompiledRange<A> {
  readonly network: A;
  readonly prefix: number;
  readonly cidr: string;
  readonly reason: string;
}

/** Longest prefix first, so the first match is the most specific entry. */
function compile<A>(ranges: readonly SpecialRange[], parse: (cidr: string) => [A, number]): CompiledRange<A>[] {
  return ranges
    .map((r) => {
      const [network, prefix] = parse(r.cidr);
      return { network, prefix, cidr: r.cidr, reason: r.reason };
    })
    .sort((a, b) => b.prefix - a.prefix);
}

const V4_TABLE = compile(IPV4_SPECIAL_RANGES, (c) => ipaddr.IPv4.parseCIDR(c));
const V6_TABLE = compile(IPV6_SPECIAL_RANGES, (c) => ipaddr.IPv6.parseCIDR(c));
const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3');
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');

function specialRange<A extends IPv4 | IPv6>(address: A, table: readonly CompiledRange<A>[]): CompiledRange<A> | undefined {
  for (const range of table) {
    if (address.match(range.network, range.prefix)) return range;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Addresses as ipaddr.js values

/**
 * The address as written in an allowlist entry: an IPv4-mapped address keeps its IPv6 form
 * there, because its prefix length counts IPv6 bits (the parser has made it IPv4).
 */
function writtenValue(address: IpAddress, text: string): IPv4 | IPv6 {
  const value = ipaddrValue(address);
  return value.kind() === 'ipv4' && text.includes(':') ? (value as IPv4).toIPv4MappedAddress() : value;
}

function canonical(ip: IPv4 | IPv6): string {
  return ip.kind() === 'ipv4' ? ip.toString() : (ip as IPv6).toRFC5952String();
}

/** The IPv4 address in the last 32 bits of an IPv6 address. */
function lastFourOctets(v6: IPv6): IPv4 {
  const p = v6.parts;
  return new ipaddr.IPv4([p[6] >> 8, p[6] & 0xff, p[7] >> 8, p[7] & 0xff]);
}

function transitionDetail(v6: IPv6, cidr: string): string {
  const p = v6.parts;
  if (cidr === SIX_TO_FOUR) {
    return `, embeds ${new ipaddr.IPv4([p[1] >> 8, p[1] & 0xff, p[2] >> 8, p[2] & 0xff]).toString()}`;
  }
  if (cidr === TEREDO) {
    // RFC 4380 §4: the client's public IPv4 address is stored bit-inverted in the last 32 bits.
    const hi = p[6] ^ 0xffff;
    const lo = p[7] ^ 0xffff;
    return `, client ${new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]).toString()}`;
  }
  return '';
}

// ---------------------------------------------------------------------------------------
// Allowlist

interface CompiledCidr {
  readonly network: IPv4 | IPv6;
  readonly prefix: number;
}

/** Parsed network per Cidr value, so a bulk run does not re-parse the allowlist per address. */
const compiledCidrs = new WeakMap<Cidr, CompiledCidr | null>();

function compiledCidr(cidr: Cidr): CompiledCidr | null {
  let compiled = compiledCidrs.get(cidr);
  if (compiled === undefined) {
    const parsed = parseIpAddress(cidr.network);
    const network = parsed.ok ? writtenValue(parsed.value, cidr.network) : undefined;
    const valid = network !== undefined && network.kind() === (cidr.family === 4 ? 'ipv4' : 'ipv6') && Number.isInteger(cidr.prefix) && cidr.prefix >= 0 && cidr.prefix <= (cidr.family === 4 ? 32 : 128);
    compiled = valid ? { network: network as IPv4 | IPv6, prefix: cidr.prefix } : null;
    compiledCidrs.set(cidr, compiled);
  }
  return compiled;
}

function allowlistMatch(candidates: readonly (IPv4 | IPv6)[], allowlist: readonly Cidr[]): Cidr | undefined {
  for (const cidr of allowlist) {
    const c = compiledCidr(cidr);
    if (c === null) continue;
    for (const ip of candidates) {
      if (ip.kind() === c.network.kind() && ip.match(c.network, c.prefix)) return cidr;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Classification

function notPublic(address: string, family: 4 | 6, reason: string, translatedFrom?: string): Omit<AddressClass, 'ip'> {
  return translatedFrom === undefined
    ? { address, family, public: false, reason }
    : { address, family, public: false, reason, translatedFrom };
}

/** RFC 5952 §5: addresses with an embedded IPv4 part are written with it in dotted form. */
function mixedNotation(prefixText: string, v4: IPv4): string {
  return prefixText + v4.toString();
}

function classifyIpv4(v4: IPv4, allowlist: readonly Cidr[], translatedFrom?: IPv6, prefixText?: string, via?: string): Omit<AddressClass, 'ip'> {
  const address = v4.toString();
  const seenAs = prefixText === undefined ? undefined : mixedNotation(prefixText, v4);
  const special = specialRange(v4, V4_TABLE);
  if (special) return notPublic(address, 4, via ? `${special.reason} via ${via}` : special.reason, seenAs);
  const listed = allowlistMatch(translatedFrom ? [v4, translatedFrom] : [v4], allowlist);
  if (listed) return notPublic(address, 4, `allowlisted (${listed.text})`, seenAs);
  return seenAs === undefined ? { address, family: 4, public: true } : { address, family: 4, public: true, translatedFrom: seenAs };
}

/** Classify one address. */
export function classifyAddress(ip: IpAddress, allowlist: readonly Cidr[] = []): AddressClass {
  const c = classifyParsed(ip, allowlist);
  if (c.address === ip.text) return { ...c, ip };
  // NAT64: the embedded IPv4 address, written by ipaddr.js from the parsed value, is what is looked up.
  const embedded = parseIpAddress(c.address);
  if (!embedded.ok) throw new Error(`address gate: derived address ${c.address} does not parse`);
  return { ...c, ip: embedded.value };
}

function classifyParsed(ip: IpAddress, allowlist: readonly Cidr[]): Omit<AddressClass, 'ip'> {
  const value = ipaddrValue(ip);
  if (value.kind() === 'ipv4') return classifyIpv4(value as IPv4, allowlist);

  const v6 = value as IPv6;
  const address = ip.text;
  if (v6.match(NAT64_WELL_KNOWN)) return classifyIpv4(lastFourOctets(v6), allowlist, v6, '64:ff9b::', 'NAT64 (RFC 6052)');

  const special = specialRange(v6, V6_TABLE);
  if (special) return notPublic(address, 6, special.reason + transitionDetail(v6, special.cidr));
  if (!v6.match(GLOBAL_UNICAST)) return notPublic(address, 6, OUTSIDE_GLOBAL_UNICAST);
  const listed = allowlistMatch([v6], allowlist);
  if (listed) return notPublic(address, 6, `allowlisted (${listed.text})`);
  return { address, family: 6, public: true };
}

// ---------------------------------------------------------------------------------------
// Allowlist parsing

/** Shorter prefixes than these would exempt a large part of the Internet: almost surely a typo. */
const MIN_PREFIX = { 4: 8, 6: 16 } as const;

function entryLabel(index: number, token: string): string {
  const shown = token.length > 60 ? `${JSON.stringify(token.slice(0, 60))}…` : JSON.stringify(token);
  return `allowlist entry ${index + 1} ${shown}`;
}

function parseCidrEntry(token: string, index: number): Result<Cidr, 'invalid_allowlist'> {
  const slash = token.indexOf('/');
  const addressText = slash >= 0 ? token.slice(0, slash) : token;
  const prefixText = slash >= 0 ? token.slice(slash + 1) : undefined;
  const label = entryLabel(index, token);

  if (addressText.includes('%')) return fail('invalid_allowlist', `${label} has a zone id; use the address without %zone`);
  const parsed = parseIpAddress(addressText);
  if (!parsed.ok) return fail('invalid_allowlist', `${label} is not an IPv4/IPv6 address or CIDR (use e.g. 10.0.0.0/8, 203.0.113.7 or 2001:db8::/32)`);

  let ip = writtenValue(parsed.value, addressText);
  const maxPrefix = ip.kind() === 'ipv4' ? 32 : 128;
  let prefix = maxPrefix;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > maxPrefix) {
      return fail('invalid_allowlist', `${label} has prefix length "${prefixText.slice(0, 10)}"; it must be a number from 0 to ${maxPrefix}`);
    }
    prefix = Number(prefixText);
  }
  // An IPv4-mapped entry is written for the same peers the gate normalises to IPv4.
  if (ip.kind() === 'ipv6' && (ip as IPv6).isIPv4MappedAddress() && prefix >= 96) {
    ip = (ip as IPv6).toIPv4Address();
    prefix -= 96;
  }
  const family: 4 | 6 = ip.kind() === 'ipv4' ? 4 : 6;
  const network = family === 4
    ? ipaddr.IPv4.networkAddressFromCIDR(`${ip.toString()}/${prefix}`)
    : ipaddr.IPv6.networkAddressFromCIDR(`${(ip as IPv6).toNormalizedString()}/${prefix}`);
  const networkText = canonical(network);
  if (networkText !== canonical(ip)) {
    return fail('invalid_allowlist', `${label} has host bits set; did you mean ${networkText}/${prefix}?`);
  }
  if (prefix < MIN_PREFIX[family]) {
    return fail('invalid_allowlist', `${label} is too broad (/${prefix}); IPv${family} allowlist entries must be /${MIN_PREFIX[family]} or longer`);
  }
  return ok({ family, network: networkText, prefix, text: `${networkText}/${prefix}` });
}

/**
 * Parse an allowlist: IPv4/IPv6 CIDRs or bare addresses separated by commas, semicolons,
 * spaces or newlines; `#` starts a comment to the end of the line. The first invalid
 * entry fails the whole list (a half-applied allowlist would silently look up addresses
 * the user meant to keep private).
 */
export function parseCidrList(text: string): Result<Cidr[], 'invalid_allowlist'> {
  const tokens: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const hash = line.indexOf('#');
    const content = hash >= 0 ? line.slice(0, hash) : line;
    for (const token of content.split(/[\s,;]+/)) {
      if (token !== '') tokens.push(token);
    }
  }
  const cidrs: Cidr[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const entry = parseCidrEntry(tokens[i], i);
    if (!entry.ok) return entry;
    cidrs.push(entry.value);
  }
  return ok(cidrs);
}
