/**
 * Refanging (undoing the "defanged" spellings threat reports use so indicators are not
 * clickable) and URL normalisation, shared by the extractor and by `refang()` for single values.
 *
 * Defanged spellings understood (case-insensitive), following InQuest/iocextract's set:
 *   dots    [.] (.) {.} [dot] (dot) {dot} \.   and the half forms "[." ".]" "(." ".)"
 *           (iocextract's "example[.com"); inside a URL host also "," when the host has no
 *           dot at all ("http://192,168,0,1", "http://example,com/")
 *   colon   [:]            slashes  [/] (/) [://], and JSON's escaped "\/"
 *   at      [@] (@) {@} [at] (at) {at}
 *   scheme  hxxp hxxps hXXp h**p hxtp htxp -> http(s); fxp -> ftp
 *   URL     any of ( ) [ ] { } < > right after "://" ("http://[example.com")
 * Spaced forms ("example [.] com", " at ", " dot ") are not understood: they split the
 * indicator into several words and would turn ordinary prose into indicators.
 *
 * Where the result differs from iocextract's refang_url, on purpose: other schemes are kept
 * (tcp://, udp://, ws:// are not rewritten to http://), an unbracketed IPv6 host gets its
 * RFC 3986 brackets, scheme and host are lower-cased, and prose punctuation after the URL
 * ("/[." or a final ".") is dropped.
 */
import { isIpv4, normalizeIpv6, parseIpv6, checkDomain } from './iocs-address';

const DEFANG_PUNCTUATION =
  /\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}|\[:\/\/\]|\[:\]|\[\/\]|\(\/\)|\[@\]|\(@\)|\{@\}|\[at\]|\(at\)|\{at\}|\\\.|\\\/|\[\.|\.\]|\(\.|\.\)/gi;

function fangOf(defanged: string): string {
  if (defanged === '\\/') return '/'; // JSON's escaped slash: "http:\/\/host\/path"
  if (defanged.length === 2) return '.'; // "\." and the half forms
  const inner = defanged.slice(1, -1).toLowerCase();
  if (inner === '.' || inner === 'dot') return '.';
  if (inner === '@' || inner === 'at') return '@';
  return inner; // ":", "/", "://"
}

/** Replaces every defanged punctuation spelling in `s` (see the module comment). */
export function refangPunctuation(s: string): string {
  return s.replace(DEFANG_PUNCTUATION, fangOf);
}

/** Scheme names accepted before "://", matched at the end of the letters preceding it. */
const SCHEME_AT_END = /(h[tx*]{2}ps?|f[tx]ps?|sftp|tcp|udp|wss?)$/i;

/**
 * The canonical scheme for the letters just before "://" (`letters` may carry junk in front,
 * "URLhxxp"), with where it starts inside `letters`; undefined when it is not a scheme we report.
 */
export function matchScheme(letters: string): { readonly scheme: string; readonly offset: number } | undefined {
  const m = SCHEME_AT_END.exec(letters);
  if (m === null) return undefined;
  const raw = m[1]!.toLowerCase();
  let scheme = raw;
  if (raw.charCodeAt(0) === 104 /* h */) scheme = raw.endsWith('s') ? 'https' : 'http';
  else if (raw.charCodeAt(0) === 102 /* f */) scheme = raw.endsWith('s') ? 'ftps' : 'ftp';
  return { scheme, offset: m.index };
}

// Characters allowed in a URL (RFC 3986 ASCII less the ones that never occur unescaped in
// one: space, " < > \ ^ ` { | }).
const URL_CHAR = new Uint8Array(128);
for (let c = 0x21; c < 0x7f; c++) URL_CHAR[c] = 1;
for (const ch of '"<>\\^`{|}') URL_CHAR[ch.charCodeAt(0)] = 0;

function count(s: string, from: number, to: number, ch: number): number {
  let k = 0;
  for (let i = from; i < to; i++) if (s.charCodeAt(i) === ch) k++;
  return k;
}

/**
 * Drops sentence punctuation that follows a URL in prose: . , ; : ! ? ' * and an opening
 * bracket left dangling, plus a closing ) ] only when unbalanced inside the URL (so
 * "(see http://x.com/a_(b))" keeps its own pair). Returns the new end index.
 */
export function trimUrlEnd(s: string, start: number, end: number): number {
  let e = end;
  // Bracket balance, counted once and kept up to date while trimming (linear in the URL).
  let parens = -1;
  let squares = 0;
  while (e > start) {
    const c = s.charCodeAt(e - 1);
    if (c === 46 || c === 44 || c === 59 || c === 58 || c === 33 || c === 63 || c === 39 || c === 42 || c === 40 || c === 91) {
      if (parens !== -1 && c === 40) parens++;
      if (parens !== -1 && c === 91) squares++;
      e--;
      continue;
    }
    if (c !== 41 && c !== 93) break;
    if (parens === -1) {
      parens = count(s, start, e, 41) - count(s, start, e, 40);
      squares = count(s, start, e, 93) - count(s, start, e, 91);
    }
    if (c === 41 && parens > 0) parens--;
    else if (c === 93 && squares > 0) squares--;
    else break;
    e--;
  }
  return e;
}

export interface ParsedUrl {
  /** Normalised URL: canonical scheme, lower-case host (IPv6 in brackets), rest as written. */
  readonly url: string;
  readonly hostKind: 'ipv4' | 'ipv6' | 'domain';
  /** Host as it goes into the ipv4 / ipv6 / domains lists (IPv6 normalised, no brackets). */
  readonly host: string;
}

const STRAY_DEFANG = /[[\](){}]/g;

/**
 * Normalises the part of an already punctuation-refanged URL after "://" (`rest`, trimmed of
 * trailing prose punctuation) under `scheme`. Undefined when the host is not an IPv4, an
 * IPv6 or a domain with a known TLD ("http://localhost/", "http://example.tld/").
 */
export function normalizeUrl(scheme: string, rest: string): ParsedUrl | undefined {
  let r = rest;
  // Defang characters right after "://", unless they open an IPv6 literal.
  let lead = 0;
  while (lead < r.length && '[](){}<>'.includes(r[lead]!)) {
    if (r[lead] === '[') {
      const close = r.indexOf(']', lead);
      if (close > lead && parseIpv6(r.slice(lead + 1, close)) !== undefined) break;
    }
    lead++;
  }
  r = r.slice(lead);
  let authEnd = r.length;
  for (let i = 0; i < r.length; i++) {
    const c = r.charCodeAt(i);
    if (c === 47 || c === 63 || c === 35) {
      authEnd = i;
      break;
    }
  }
  const authority = r.slice(0, authEnd);
  const tail = r.slice(authEnd);
  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at + 1) : '';
  const hostPort = authority.slice(at + 1);
  let hostText: string;
  let port = '';
  let kind: ParsedUrl['hostKind'];
  let host: string;
  if (hostPort.startsWith('[') && hostPort.indexOf(']') > 0 && parseIpv6(hostPort.slice(1, hostPort.indexOf(']'))) !== undefined) {
    const close = hostPort.indexOf(']');
    const inner = hostPort.slice(1, close);
    const after = hostPort.slice(close + 1);
    if (after !== '' && !/^:\d{1,5}$/.test(after)) return undefined;
    port = after;
    kind = 'ipv6';
    host = normalizeIpv6(inner)!;
    hostText = `[${inner.toLowerCase()}]`;
  } else if (count(hostPort, 0, hostPort.length, 58) >= 2) {
    // An unbracketed IPv6 host cannot carry a port: the whole authority is the address.
    const v6 = normalizeIpv6(hostPort);
    if (v6 === undefined) return undefined;
    kind = 'ipv6';
    host = v6;
    hostText = `[${hostPort.toLowerCase()}]`;
  } else {
    const colon = hostPort.indexOf(':');
    let name = colon >= 0 ? hostPort.slice(0, colon) : hostPort;
    if (colon >= 0) {
      port = hostPort.slice(colon);
      if (!/^:\d{1,5}$/.test(port)) return undefined;
    }
    name = name.replace(STRAY_DEFANG, '').toLowerCase();
    if (!name.includes('.')) name = name.replace(/,/g, '.');
    if (isIpv4(name)) {
      kind = 'ipv4';
    } else if (checkDomain(name) !== 'invalid') {
      kind = 'domain';
    } else {
      return undefined;
    }
    host = name;
    hostText = name;
  }
  return { url: `${scheme}://${userinfo}${hostText}${port}${tail}`, hostKind: kind, host };
}

/**
 * Index where the URL body starting at `start` (just after "://") ends inside `s`: the end
 * of its URL characters, then trimmed of prose punctuation. A comma also ends it in the
 * authority once that has a dot (a host without dots keeps commas: "http://192,168,0,1")
 * and in the path ("url1,url2", a CSV row); in the query it stays ("?ids=1,2").
 */
export function urlBodyEnd(s: string, start: number, end: number = s.length): number {
  // One pass: 0 = authority, 1 = path, 2 = query or fragment.
  let part = 0;
  let sawDot = false;
  let i = start;
  for (; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || URL_CHAR[c] === 0) break;
    if (c === 44 && part < 2 && (part === 1 || sawDot)) break;
    if (c === 63 || c === 35) part = 2;
    else if (c === 47 && part === 0) part = 1;
    else if (c === 46) sawDot = true;
  }
  return trimUrlEnd(s, start, i);
}

/**
 * Refangs and normalises one indicator written on its own (a line of an IOC list):
 * "hxxp://example[.]com/" -> "http://example.com/", "192[.]168[.]0[.]1" -> "192.168.0.1",
 * "example[.]com/path" -> "http://example.com/path" (a defanged host followed by a path is
 * a URL), hashes and domains lower-cased, CVE ids upper-cased. Text that is none of these
 * comes back refanged but otherwise unchanged.
 */
export function refang(ioc: string): string {
  const trimmed = ioc.trim();
  const fanged = refangPunctuation(trimmed);
  const sep = fanged.indexOf('://');
  if (sep > 0) {
    const scheme = matchScheme(fanged.slice(0, sep));
    if (scheme !== undefined && scheme.offset === 0) {
      const bodyEnd = urlBodyEnd(fanged, sep + 3);
      const parsed = normalizeUrl(scheme.scheme, fanged.slice(sep + 3, bodyEnd));
      if (parsed !== undefined) return parsed.url;
    }
    return fanged;
  }
  const slash = fanged.indexOf('/');
  if (fanged !== trimmed && slash > 0) {
    const parsed = normalizeUrl('http', fanged.slice(0, urlBodyEnd(fanged, 0)));
    if (parsed !== undefined) return parsed.url;
  }
  if (/^cve-\d{4}-\d{4,}$/i.test(fanged)) return fanged.toUpperCase();
  if (/^[0-9a-f]+$/i.test(fanged)) return fanged.toLowerCase();
  if (fanged.includes('@')) return fanged.toLowerCase();
  const v6 = fanged.includes(':') ? normalizeIpv6(fanged.replace(/^\[|\]$/g, '')) : undefined;
  if (v6 !== undefined) return v6;
  if (isIpv4(fanged)) return fanged;
  const lower = fanged.toLowerCase().replace(/\.$/, '');
  return checkDomain(lower) !== 'invalid' ? lower : fanged;
}
