/**
 * Strict recognisers for the host parts of indicators: dotted-quad IPv4, IPv6 (normalised to
 * RFC 5952) and DNS names ending in a real top-level domain. They work on character codes
 * at given positions so the scanner can test candidates inside a token without slicing.
 */
import { isFileExtensionTld, isKnownTld } from './iocs-tlds';

const CH_0 = 48;
const CH_9 = 57;
const CH_DOT = 46;

function isDigit(c: number): boolean {
  return c >= CH_0 && c <= CH_9;
}

/**
 * Reads a dotted-quad IPv4 address starting exactly at `start`: four decimal octets 0-255,
 * no leading zeros (so "01.02.03.04" dates and octal-looking forms are refused).
 * Returns the index just past the last octet, or -1. Says nothing about what follows.
 */
export function readIpv4(s: string, start: number, end: number = s.length): number {
  let i = start;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (i >= end || s.charCodeAt(i) !== CH_DOT) return -1;
      i++;
    }
    const first = i;
    let value = 0;
    while (i < end && i - first < 4 && isDigit(s.charCodeAt(i))) {
      value = value * 10 + (s.charCodeAt(i) - CH_0);
      i++;
    }
    const digits = i - first;
    if (digits === 0 || digits > 3 || value > 255) return -1;
    if (digits > 1 && s.charCodeAt(first) === CH_0) return -1;
  }
  return i;
}

/** Whether the whole of `s` is a dotted-quad IPv4 address (see readIpv4). */
export function isIpv4(s: string): boolean {
  return readIpv4(s, 0) === s.length;
}

function hexValue(c: number): number {
  if (c >= CH_0 && c <= CH_9) return c - CH_0;
  const lower = c | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

/**
 * Parses a textual IPv6 address (no brackets, no zone, no prefix length) into eight 16-bit
 * groups, or undefined. Strict: groups of 1-4 hex digits, exactly one "::" at most, an
 * embedded dotted IPv4 only as the last 32 bits.
 */
export function parseIpv6(s: string): number[] | undefined {
  const n = s.length;
  if (n < 2 || n > 45) return undefined;
  const head: number[] = [];
  const tail: number[] = [];
  let groups = head;
  let sawDoubleColon = false;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return undefined;
    sawDoubleColon = true;
    groups = tail;
    i = 2;
    if (i === n) return [0, 0, 0, 0, 0, 0, 0, 0];
  }
  for (;;) {
    const first = i;
    let value = 0;
    while (i < n && i - first < 5) {
      const h = hexValue(s.charCodeAt(i));
      if (h < 0) break;
      value = value * 16 + h;
      i++;
    }
    if (i < n && s.charCodeAt(i) === CH_DOT) {
      // Embedded IPv4: must be the last thing in the address.
      const end = readIpv4(s, first);
      if (end !== n) return undefined;
      const parts = s.slice(first).split('.');
      groups.push(((+parts[0]! << 8) | +parts[1]!) >>> 0, ((+parts[2]! << 8) | +parts[3]!) >>> 0);
      break;
    }
    const digits = i - first;
    if (digits === 0 || digits > 4) return undefined;
    groups.push(value);
    if (i === n) break;
    if (s.charCodeAt(i) !== 58) return undefined;
    i++;
    if (i < n && s.charCodeAt(i) === 58) {
      if (sawDoubleColon) return undefined;
      sawDoubleColon = true;
      groups = tail;
      i++;
      if (i === n) break;
    } else if (i === n) {
      return undefined; // single trailing colon
    }
  }
  const total = head.length + tail.length;
  if (sawDoubleColon ? total > 7 : total !== 8) return undefined;
  const out = head.slice();
  for (let k = total; k < 8; k++) out.push(0);
  for (const g of tail) out.push(g);
  return out;
}

/** RFC 5952 text of eight groups: lower case, no leading zeros, longest zero run (>= 2) as "::". */
export function formatIpv6(groups: readonly number[]): string {
  const mapped = groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff;
  if (mapped) {
    const a = groups[6]!;
    const b = groups[7]!;
    return `::ffff:${a >>> 8}.${a & 255}.${b >>> 8}.${b & 255}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** Normalised (RFC 5952) form of an IPv6 address, or undefined when it is not one. */
export function normalizeIpv6(s: string): string | undefined {
  const groups = parseIpv6(s);
  return groups === undefined ? undefined : formatIpv6(groups);
}

/**
 * Whether an IPv6-shaped run found in prose is plausibly an address and not something else
 * that happens to parse: fewer than two groups ("::1", "::8080" after a host or port),
 * "a::b" or "be::ef" (scope operators, emoticons), and full 8-group forms made only of
 * 2-digit groups (EUI-64 / MAC-like byte dumps) are refused.
 */
export function isPlausibleIpv6Text(s: string): boolean {
  const hasDouble = s.includes('::');
  const parts = s.split(':').filter((p) => p.length > 0);
  const groupCount = parts.length + (s.includes('.') ? 1 : 0);
  if (!hasDouble && parts.every((p) => p.length === 2)) return false;
  if (groupCount >= 3) return true;
  return groupCount === 2 && hasDouble && parts.some((p) => p.length >= 3);
}

export type DomainCheck = 'valid' | 'file-extension-tld' | 'invalid';

// Platform tokens of antivirus detection names ("Trojan.Win32.Agent.ae"): never a host label.
const DETECTION_NAME_LABELS = new Set(['win32', 'win64', 'msil', 'w32', 'w64']);

/**
 * Checks a lower-case dotted name: 2+ labels of letters, digits and inner hyphens (1-63
 * chars, 253 in all), whose last label is a known TLD, not every label before it a number
 * when there are several, and no antivirus platform label. 'file-extension-tld' flags a valid
 * name whose TLD is also a common file extension (see iocs-tlds.ts).
 */
export function checkDomain(name: string): DomainCheck {
  const n = name.length;
  if (n < 4 || n > 253) return 'invalid';
  let labelStart = 0;
  let labels = 0;
  let numericLabels = 0;
  let labelIsNumeric = true;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? name.charCodeAt(i) : CH_DOT;
    if (c === CH_DOT) {
      const len = i - labelStart;
      if (len === 0 || len > 63) return 'invalid';
      if (name.charCodeAt(labelStart) === 45 || name.charCodeAt(i - 1) === 45) return 'invalid';
      if (labelIsNumeric) numericLabels++;
      else if (len >= 3 && len <= 5 && DETECTION_NAME_LABELS.has(name.slice(labelStart, i))) return 'invalid';
      labels++;
      labelStart = i + 1;
      labelIsNumeric = true;
      continue;
    }
    if (isDigit(c)) continue;
    if ((c >= 97 && c <= 122) || c === 45) labelIsNumeric = false;
    else return 'invalid';
  }
  if (labels < 2) return 'invalid';
  const tld = name.slice(name.lastIndexOf('.') + 1);
  if (!isKnownTld(tld)) return 'invalid';
  // "1.2.com", "10.0.19041.co": numbers glued to a TLD, not a name ("163.com" is fine).
  if (numericLabels >= 2 && numericLabels === labels - 1) return 'invalid';
  return isFileExtensionTld(tld) ? 'file-extension-tld' : 'valid';
}
