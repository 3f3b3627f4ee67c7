import ipaddr from 'ipaddr.js';
import type { Rng } from './prng';

/** Which address families a run may use for attacker and client addresses. */
export type AddressFamily = 'any' | 'ipv4' | 'ipv6';
export const ADDRESS_FAMILIES: readonly AddressFamily[] = ['any', 'ipv4', 'ipv6'];

export interface KnownAddress {
  readonly ip: string;
  /** where the address comes from, so reports and tests can say why it is in the list */
  readonly source: string;
}

/**
 * Public addresses that real data shows attacking or being reported, so enrichment
 * (VirusTotal / AbuseIPDB) has something to find when the generated traffic is triaged.
 */
export const KNOWN_BAD_IPV4: readonly KnownAddress[] = [
  { ip: '183.62.140.253', source: 'loghub OpenSSH SSH_2k.log: top failed-password source (286 attempts)' },
  { ip: '187.141.143.180', source: 'loghub OpenSSH SSH_2k.log: 80 failed-password attempts' },
  { ip: '103.99.0.122', source: 'loghub OpenSSH SSH_2k.log: 46 failed-password attempts' },
  { ip: '112.95.230.3', source: 'loghub OpenSSH SSH_2k.log: 26 failed-password attempts' },
  { ip: '138.128.150.133', source: 'VirusTotal API v3 IP report (OpenCTI connector test data)' },
  { ip: '118.25.6.39', source: 'AbuseIPDB API v2 docs: check endpoint example' },
  { ip: '185.156.73.100', source: 'seed 000 guide: "known malicious IP" for the critical-alert test' },
];

/** The classic lab script's ATTACKER_IPS (seed 000; three of them private, one documentation address). */
export const CLASSIC_SCRIPT_IPV4: readonly string[] = ['192.168.1.105', '10.0.0.15', '172.16.23.88', '203.0.113.42'];

/** RFC 5737 IPv4 documentation networks (/24) and the RFC 3849 IPv6 documentation prefix (/32). */
export const IPV4_DOCUMENTATION_NETWORKS: readonly string[] = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24'];
export const IPV6_DOCUMENTATION_PREFIX = '2001:db8::/32';

/** A network that "distributed" attacks come from: all hosts share it. */
export interface SourceNetwork {
  readonly cidr: string;
  readonly family: 'ipv4' | 'ipv6';
  readonly hosts: readonly string[];
}

function hextet(rng: Rng): number {
  return rng.int(0, 0xffff);
}

/** Canonical (RFC 5952) text, the form sshd and Windows print. */
function ipv6Text(parts: readonly number[]): string {
  return new ipaddr.IPv6(parts.slice()).toString();
}

/** One random /64 inside 2001:db8::/32 and `size` distinct hosts in it. */
export function ipv6Network(rng: Rng, size: number): SourceNetwork {
  const net = [0x2001, 0x0db8, hextet(rng), hextet(rng)];
  const hosts = new Set<string>();
  while (hosts.size < size) {
    hosts.add(ipv6Text([...net, hextet(rng), hextet(rng), hextet(rng), rng.int(1, 0xffff)]));
  }
  return { cidr: `${ipv6Text([...net, 0, 0, 0, 0])}/64`, family: 'ipv6', hosts: [...hosts] };
}

/** One of the RFC 5737 /24s and `size` (<= 254) distinct hosts in it. */
export function ipv4Network(rng: Rng, size: number): SourceNetwork {
  const cidr = rng.pick(IPV4_DOCUMENTATION_NETWORKS);
  const prefix = cidr.slice(0, cidr.lastIndexOf('.') + 1);
  const wanted = Math.min(size, 254);
  const hosts = new Set<string>();
  while (hosts.size < wanted) hosts.add(prefix + rng.int(1, 254));
  return { cidr, family: 'ipv4', hosts: [...hosts] };
}

export function sourceNetwork(rng: Rng, family: AddressFamily, size: number): SourceNetwork {
  const v6 = family === 'ipv6' || (family === 'any' && rng.chance(0.5));
  return v6 ? ipv6Network(rng, size) : ipv4Network(rng, size);
}

/** A single documentation IPv6 address, e.g. for an attacker when the run asks for IPv6. */
export function ipv6Host(rng: Rng): string {
  return ipv6Text([0x2001, 0x0db8, hextet(rng), hextet(rng), 0, 0, hextet(rng), rng.int(1, 0xffff)]);
}

/**
 * Where a single-source attack comes from: a known-bad IPv4 address, or (with IPv6 allowed)
 * sometimes a documentation IPv6 address, since no public bad-IPv6 sample is in the corpus.
 */
export function attackerAddress(rng: Rng, family: AddressFamily): string {
  if (family === 'ipv6') return ipv6Host(rng);
  if (family === 'any' && rng.chance(0.25)) return ipv6Host(rng);
  return rng.pick(KNOWN_BAD_IPV4).ip;
}
