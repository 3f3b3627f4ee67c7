/**
 * The extraction engine: two passes over a block of complete lines, without regular
 * expressions, that skip most characters unread:
 *  - hashes: runs of hex digits, found by sampling every 16th character; a run of exactly
 *    32 / 40 / 64 / 128 digits, bounded by non-hex characters on both sides and mixing
 *    digits and letters, is an MD5 / SHA-1 / SHA-256 / SHA-512 (a 34-digit run is nothing,
 *    and neither is a 128-digit run's 32-digit prefix);
 *  - tokens: the text is cut at whitespace, quotes, < > ` | and every non-ASCII character
 *    (no indicator we report contains one; curly quotes and CJK punctuation end them), and
 *    only the few tokens that can hold an indicator (a dot, colon, @, opening bracket,
 *    backslash or "CVE-", found with indexOf) are cut out and handed to `analyzeToken`.
 * Tokens never span a line, so a stream can be scanned block by block at line ends.
 *
 * Inside a token, candidates are claimed in this order, each masking its span for the next:
 * URLs (scheme "://"), email addresses, IPv6, then one left-to-right pass for IPv4 and
 * domains. Rules that keep prose, file names and version strings out:
 *  - IPv4: four octets 0-255 without leading zeros, not glued to letters/digits/"_", not
 *    followed by ".<alnum>" (1.2.3.4.5, 1.2.3.4.in-addr), not after "/" (Mozilla/5.0.0.1),
 *    not after a version word (version, ver, v, build, release, rev, firmware, fw).
 *    A CIDR network "95.130.8.0/21" is not a host and is skipped; "/32" is kept as the host.
 *  - IPv6: strict parse (8 groups, or "::" once), ≥ 3 groups, or 2 around "::" with one of
 *    3+ digits ("fe80::1"); 8 two-digit groups (MAC/EUI dumps) are refused, "HH:MM:SS"
 *    times never parse, SSH fingerprints (16 groups) are one run and fail as a whole.
 *    Networks ("2001:db8::/32") are skipped like IPv4 ones, "/128" kept.
 *  - domain: 2+ valid labels ending in a real TLD (iocs-tlds.ts), not starting right after
 *    / \ @ % $ & ~ + - . _ (paths, detection names "Win32/Sednit.CH", email local parts),
 *    not followed by "(" (code: "window.open(") or "@"; a TLD that is also a common file
 *    extension (.zip .py .sh ...) only with evidence of a host (defanged, www., URL, email);
 *    undefanged "word.It" (title-case TLD, a missing space) is prose.
 *  - URL: a known scheme (http(s), hxxp(s), ftp, sftp, tcp, udp, ws(s)) and a host that is
 *    an address or a real domain; trailing prose punctuation trimmed; a comma ends it except
 *    in the query. A defanged host followed by a path ("evil[.]com/gate.php") is reported as
 *    an http:// URL too (a plain "host/path" is not: "TCP/22", "and/or", file paths).
 *  - email: local part of letters, digits and . _ % + -, domain with a real TLD (any, the
 *    file-extension ones included).
 *  - CVE: CVE-YYYY-NNNN(NNN), not glued to letters or digits, upper-cased.
 * Every host inside a URL or an email is also reported under ipv4 / ipv6 / domains unless
 * includeEmbeddedHosts is false; nothing else is taken from inside a URL (its path and
 * query are not scanned for domains or addresses), except hashes, which count anywhere.
 */
import { checkDomain, isPlausibleIpv6Text, normalizeIpv6, readIpv4 } from './iocs-address';
import { normalizeUrl, matchScheme, refangPunctuation, urlBodyEnd } from './iocs-refang';
import { IOC_TYPES, type IocExtractOptions, type IocSet, type IocType } from './iocs-types';

// Indexes into IOC_TYPES.
const T_IPV4 = 0;
const T_IPV6 = 1;
const T_DOMAIN = 2;
const T_URL = 3;
const T_EMAIL = 4;
const T_MD5 = 5;
const T_SHA1 = 6;
const T_SHA256 = 7;
const T_SHA512 = 8;
const T_CVE = 9;

// Character classes of the main pass.
const C_HEX = 1;
const C_DIGIT = 2;
const C_DELIM = 4;
const C_DOT = 8;
const C_COLON = 16;
const C_AT = 32;
const C_OPEN = 64;
const C_HYPHEN = 128;
const C_BSLASH = 256;
const F_CVE = 512;
const MARKS = C_DOT | C_COLON | C_AT | C_OPEN | C_BSLASH;
// What a run of hex digits has held so far.
const HEX_HAS_DIGIT = 1;
const HEX_HAS_LETTER = 2;
const HEX_HAS_UPPER = 4;
const HEX_MIXED = HEX_HAS_DIGIT | HEX_HAS_LETTER;

const CLASS = new Uint16Array(128);
for (let c = 0; c <= 32; c++) CLASS[c] = C_DELIM;
CLASS[127] = C_DELIM;
for (const ch of `"'<>\`|`) CLASS[ch.charCodeAt(0)] = C_DELIM;
for (let c = 48; c <= 57; c++) CLASS[c] = C_HEX | C_DIGIT;
for (let c = 97; c <= 102; c++) CLASS[c] = C_HEX;
for (let c = 65; c <= 70; c++) CLASS[c] = C_HEX;
CLASS[46] = C_DOT;
CLASS[58] = C_COLON;
CLASS[64] = C_AT;
CLASS[91] = C_OPEN;
CLASS[40] = C_OPEN;
CLASS[123] = C_OPEN;
CLASS[45] = C_HYPHEN;
CLASS[92] = C_BSLASH;

// Character classes inside a token.
const H_LABEL = 1; // letter or digit
const H_DIGIT = 2;
const H_RUN = 4; // may continue a dotted name: letter, digit, '.', '-', '_'
const H_HEX = 8;
const H_LOCAL = 16; // email local part: letter, digit, . _ % + -
const H_DOMAIN_BLOCK = 32; // a name starting right after this is a path part or a local part
const H_IP_BLOCK = 64;
const HOST = new Uint8Array(128);
for (let c = 48; c <= 57; c++) HOST[c] = H_LABEL | H_DIGIT | H_RUN | H_HEX | H_LOCAL | H_DOMAIN_BLOCK | H_IP_BLOCK;
for (let c = 65; c <= 90; c++) HOST[c] = H_LABEL | H_RUN | H_LOCAL | H_DOMAIN_BLOCK | H_IP_BLOCK;
for (let c = 97; c <= 122; c++) HOST[c] = H_LABEL | H_RUN | H_LOCAL | H_DOMAIN_BLOCK | H_IP_BLOCK;
for (const ch of 'abcdefABCDEF') HOST[ch.charCodeAt(0)]! |= H_HEX;
for (const ch of '.-_') HOST[ch.charCodeAt(0)]! |= H_RUN | H_LOCAL | H_DOMAIN_BLOCK;
for (const ch of '%+') HOST[ch.charCodeAt(0)]! |= H_LOCAL | H_DOMAIN_BLOCK;
for (const ch of '/\\@$&~') HOST[ch.charCodeAt(0)]! |= H_DOMAIN_BLOCK;
for (const ch of '._/') HOST[ch.charCodeAt(0)]! |= H_IP_BLOCK;

function hostClass(c: number): number {
  return c < 128 ? HOST[c]! : 0;
}

const VERSION_BEFORE = /\b(?:v|ver|vers|version|build|release|rel|rev|revision|firmware|fw)\.?\s*[:=#]?\s*$/i;
const CVE_IN_TOKEN = /(?<![A-Za-z0-9])CVE-((?:19|20)\d\d)-(\d{4,7})(?![A-Za-z0-9])/gi;
const LOOKBEHIND = 24;
// Distinct context-free tokens remembered (as copies, so they pin no block of text): a
// repeated token adds nothing new. The memory is forgotten after SEEN_LIMIT tokens.
const SEEN_LIMIT = 50_000;
const SEEN_MAX_LENGTH = 512;

// A run of 32 or more hex digits holds two characters HEX_SAMPLE apart on any lattice of step HEX_SAMPLE.
const HEX_SAMPLE = 16;
// What makes a token worth analysing: MARKS, then a hyphen (interesting after "cve").
const MARK_SEARCH = ['.', ':', '@', '(', '[', '{', '\\', '-'];
const MARK_HYPHEN = MARK_SEARCH.length - 1;

function isHex(c: number): boolean {
  return c < 128 && (CLASS[c]! & C_HEX) !== 0;
}

function isDelimiter(c: number): boolean {
  return c >= 128 || (CLASS[c]! & C_DELIM) !== 0;
}

/** s[i - 3, i) is "cve" in any case. */
function isCveBefore(s: string, i: number): boolean {
  return (s.charCodeAt(i - 1) | 32) === 101 && (s.charCodeAt(i - 2) | 32) === 118 && (s.charCodeAt(i - 3) | 32) === 99;
}

interface Finding {
  readonly pos: number;
  readonly type: number;
  readonly value: string;
}

/**
 * `s` with the spans [spans[0], spans[1]), [spans[2], spans[3]) ... (ascending, disjoint)
 * replaced by spaces, so later candidates neither start nor run inside them. One copy per
 * stage, however many spans: a huge token with many indicators stays linear.
 */
function blankSpans(s: string, spans: readonly number[]): string {
  if (spans.length === 0) return s;
  let out = '';
  let pos = 0;
  for (let k = 0; k < spans.length; k += 2) {
    out += s.slice(pos, spans[k]) + ' '.repeat(spans[k + 1]! - spans[k]!);
    pos = spans[k + 1]!;
  }
  return out + s.slice(pos);
}

/**
 * A copy of `value` that does not pin the (possibly huge) text it was sliced from: slicing
 * a fresh concatenation makes V8 flatten it into a new string of value's size first.
 */
function detach(value: string): string {
  return (' ' + value).slice(1);
}

function isTitleCase(label: string): boolean {
  const first = label.charCodeAt(0);
  if (first < 65 || first > 90 || label.length < 2) return false;
  for (let i = 1; i < label.length; i++) {
    const c = label.charCodeAt(i);
    if (c < 97 || c > 122) return false;
  }
  return true;
}

/** Collects findings per kind, deduplicated in first-seen order. */
export class IocScanner {
  private readonly sets: Set<string>[] = IOC_TYPES.map(() => new Set<string>());
  private readonly wanted: boolean[];
  private readonly embedded: boolean;
  private readonly wantTokens: boolean;
  private readonly wantHashes: boolean;
  // Findings of the token being analysed (reused: one token at a time).
  private readonly found: Finding[] = [];
  private readonly seen = new Set<string>();
  private readonly nextMark: number[] = MARK_SEARCH.map(() => -1);

  constructor(options: IocExtractOptions = {}) {
    const types = new Set<IocType>(options.types ?? IOC_TYPES);
    this.wanted = IOC_TYPES.map((t) => types.has(t));
    this.embedded = options.includeEmbeddedHosts ?? true;
    this.wantHashes = this.wanted[T_MD5]! || this.wanted[T_SHA1]! || this.wanted[T_SHA256]! || this.wanted[T_SHA512]!;
    this.wantTokens = IOC_TYPES.some((t, i) => types.has(t) && (i < T_MD5 || i === T_CVE));
  }

  result(): IocSet {
    const out = {} as IocSet;
    IOC_TYPES.forEach((t, i) => {
      out[t] = Array.from(this.sets[i]!);
    });
    return out;
  }

  private add(type: number, value: string): void {
    if (!this.wanted[type]) return;
    const set = this.sets[type]!;
    if (!set.has(value)) set.add(detach(value));
  }

  /**
   * Scans s[from, to). `to` must be the end of the text or just after a line break (or other
   * delimiter), so no token or hex run is cut.
   *
   * Two passes that skip most characters without looking at them one by one in JavaScript
   * (a per-character loop cost ~8 ns a character, most of the scan): hex runs are found by
   * sampling every 16th character (a run of 32 or more digits always holds two samples 16
   * apart), and tokens by searching for the characters that make a token interesting with
   * indexOf. The passes feed different lists, each in text order.
   */
  scanBlock(s: string, from: number = 0, to: number = s.length): void {
    if (this.wantHashes) this.scanHex(s, from, to);
    if (this.wantTokens) this.scanTokens(s, from, to);
  }

  /** Every maximal run of 32, 40, 64 or 128 hex digits mixing digits and letters is a hash. */
  private scanHex(s: string, from: number, to: number): void {
    for (let p = from; p < to; p += HEX_SAMPLE) {
      if (!isHex(s.charCodeAt(p))) continue;
      let a = p;
      while (a > from && isHex(s.charCodeAt(a - 1))) a--;
      let b = p + 1;
      while (b < to && isHex(s.charCodeAt(b))) b++;
      const len = b - a;
      if (len === 32 || len === 40 || len === 64 || len === 128) {
        let mix = 0;
        for (let i = a; i < b; i++) {
          const c = s.charCodeAt(i);
          mix |= c <= 57 ? HEX_HAS_DIGIT : c < 97 ? HEX_HAS_LETTER | HEX_HAS_UPPER : HEX_HAS_LETTER;
        }
        if ((mix & HEX_MIXED) === HEX_MIXED) {
          const type = len === 32 ? T_MD5 : len === 40 ? T_SHA1 : len === 64 ? T_SHA256 : T_SHA512;
          const hash = s.slice(a, b);
          this.add(type, mix & HEX_HAS_UPPER ? hash.toLowerCase() : hash);
        }
      }
      // The next sample after the run (s[b] is not a hex digit).
      if (b > p + 1) p += Math.floor((b - p) / HEX_SAMPLE) * HEX_SAMPLE;
    }
  }

  /**
   * Tokens are cut at whitespace, quotes, < > ` | and every non-ASCII character; only those
   * holding one of . : @ ( [ { \ or "cve-" can be an indicator. A token whose only such
   * character is a final "." or ":" or a leading "(" or "[" ("word.", "Issuer:", "(see") is
   * the commonest kind in prose and can hold none either.
   */
  private scanTokens(s: string, from: number, to: number): void {
    // Next position (>= pos) of each of MARK_SEARCH; the hyphen's is the next one after "cve".
    const next = this.nextMark;
    for (let j = 0; j < next.length; j++) next[j] = -1;
    let pos = from;
    for (;;) {
      let m = to;
      for (let j = 0; j < next.length; j++) {
        let n = next[j]!;
        if (n < pos) {
          n = s.indexOf(MARK_SEARCH[j]!, pos);
          if (j === MARK_HYPHEN) {
            while (n >= 0 && n < to && !(n >= from + 3 && isCveBefore(s, n))) n = s.indexOf('-', n + 1);
          }
          if (n < 0 || n >= to) n = to;
          next[j] = n;
        }
        if (n < m) m = n;
      }
      if (m >= to) return;
      // One pass over the token: backwards from m to its start, then forwards to its end.
      let flags = 0;
      let marks = 0;
      let lastMark = -1;
      let a = m;
      for (; a > pos; a--) {
        const c = s.charCodeAt(a - 1);
        if (isDelimiter(c)) break;
        const k = CLASS[c]!;
        if (k & MARKS) {
          if (lastMark < 0) lastMark = a - 1;
          marks++;
        }
        flags |= k;
        if (k & C_HYPHEN && a - 1 >= from + 3 && isCveBefore(s, a - 1)) flags |= F_CVE;
      }
      let b = m;
      for (; b < to; b++) {
        const c = s.charCodeAt(b);
        if (isDelimiter(c)) break;
        const k = CLASS[c]!;
        if (k & MARKS) {
          lastMark = b;
          marks++;
        }
        flags |= k;
        if (k & C_HYPHEN && b >= from + 3 && isCveBefore(s, b)) flags |= F_CVE;
      }
      const lone =
        marks === 1 && !(flags & F_CVE) && ((lastMark === b - 1 && flags & (C_DOT | C_COLON)) || (lastMark === a && flags & C_OPEN));
      if (!lone) this.token(s, a, b, flags);
      pos = b + 1;
    }
  }

  private token(s: string, start: number, end: number, flags: number): void {
    const raw = s.slice(start, end);
    if (this.seen.has(raw)) return;
    if (this.analyzeToken(raw, flags, s, start) && raw.length <= SEEN_MAX_LENGTH) {
      if (this.seen.size >= SEEN_LIMIT) this.seen.clear();
      // A copy: a slice would keep the whole block it was cut from alive.
      this.seen.add(detach(raw));
    }
  }

  /** Finds the indicators of one token; returns false when the result depended on text before it. */
  private analyzeToken(raw: string, flags: number, s: string, tokStart: number): boolean {
    let t = raw;
    if (flags & (C_OPEN | C_BSLASH)) t = refangPunctuation(raw);
    const defanged = t !== raw;
    if (!(flags & (C_DOT | C_COLON | C_AT | F_CVE)) && !defanged) return true;
    const found = this.found;
    found.length = 0;
    if (flags & F_CVE) {
      CVE_IN_TOKEN.lastIndex = 0;
      for (let m = CVE_IN_TOKEN.exec(t); m !== null; m = CVE_IN_TOKEN.exec(t)) {
        found.push({ pos: m.index, type: T_CVE, value: `CVE-${m[1]}-${m[2]}` });
      }
    }
    let work = t;
    if (t.indexOf('://') >= 0) work = blankSpans(work, this.urls(t, found));
    if (work.indexOf('@') >= 0) work = blankSpans(work, this.emails(work, found));
    const colon = work.indexOf(':');
    if (colon >= 0 && work.indexOf(':', colon + 1) >= 0) work = blankSpans(work, this.ipv6(work, found));
    const contextFree = this.hosts(work, defanged, found, s, tokStart);
    if (found.length > 1) found.sort((a, b) => a.pos - b.pos);
    for (const f of found) this.add(f.type, f.value);
    return contextFree;
  }

  private pushHost(found: Finding[], pos: number, kind: 'ipv4' | 'ipv6' | 'domain', host: string): void {
    if (!this.embedded) return;
    found.push({ pos, type: kind === 'ipv4' ? T_IPV4 : kind === 'ipv6' ? T_IPV6 : T_DOMAIN, value: host });
  }

  /** URLs of the token; returns the spans they cover. */
  private urls(t: string, found: Finding[]): number[] {
    const spans: number[] = [];
    let from = 0;
    for (;;) {
      const sep = t.indexOf('://', from);
      if (sep < 0) return spans;
      let letters = sep;
      while (letters > from) {
        const c = t.charCodeAt(letters - 1) | 32;
        if ((c >= 97 && c <= 122) || c === 42 /* '*' | 32 */) letters--;
        else break;
      }
      const scheme = matchScheme(t.slice(letters, sep));
      const bodyStart = sep + 3;
      if (scheme === undefined) {
        from = bodyStart;
        continue;
      }
      const start = letters + scheme.offset;
      const bodyEnd = urlBodyEnd(t, bodyStart);
      const parsed = bodyEnd > bodyStart ? normalizeUrl(scheme.scheme, t.slice(bodyStart, bodyEnd)) : undefined;
      if (parsed === undefined) {
        from = bodyStart;
        continue;
      }
      found.push({ pos: start, type: T_URL, value: parsed.url });
      this.pushHost(found, start + 1, parsed.hostKind, parsed.host);
      spans.push(start, bodyEnd);
      from = bodyEnd;
    }
  }

  /** Email addresses of the token; returns the spans they cover. */
  private emails(work: string, found: Finding[]): number[] {
    const spans: number[] = [];
    const n = work.length;
    let from = 0;
    let claimedTo = 0;
    for (;;) {
      const at = work.indexOf('@', from);
      if (at < 0) return spans;
      from = at + 1;
      let ls = at;
      while (ls > claimedTo && hostClass(work.charCodeAt(ls - 1)) & H_LOCAL) ls--;
      while (ls < at && work.charCodeAt(ls) === 46) ls++;
      if (ls === at || at - ls > 64 || work.charCodeAt(at - 1) === 46) continue;
      let de = at + 1;
      while (de < n) {
        const c = work.charCodeAt(de);
        if (hostClass(c) & H_LABEL || c === 46 || c === 45) de++;
        else break;
      }
      while (de > at + 1 && work.charCodeAt(de - 1) === 46) de--;
      const domain = work.slice(at + 1, de).toLowerCase();
      if (checkDomain(domain) === 'invalid') continue;
      const local = work.slice(ls, at);
      if (local.includes('..')) continue;
      found.push({ pos: ls, type: T_EMAIL, value: `${local.toLowerCase()}@${domain}` });
      this.pushHost(found, at + 1, 'domain', domain);
      spans.push(ls, de);
      claimedTo = de;
      from = de;
    }
  }

  /** IPv6 addresses (and networks, which are skipped) of the token; returns their spans. */
  private ipv6(work: string, found: Finding[]): number[] {
    const spans: number[] = [];
    const n = work.length;
    let i = 0;
    while (i < n) {
      const c = work.charCodeAt(i);
      const hc = hostClass(c);
      if (!(hc & H_HEX) && c !== 58) {
        i++;
        continue;
      }
      let j = i;
      let colons = 0;
      while (j < n) {
        const d = work.charCodeAt(j);
        if (d === 58) colons++;
        else if (!(hostClass(d) & H_HEX) && d !== 46) break;
        j++;
      }
      const prev = i > 0 ? work.charCodeAt(i - 1) : 32;
      let end = j;
      if (end < n && work.charCodeAt(end) === 37 /* % zone id */) {
        let z = end + 1;
        while (z < n && hostClass(work.charCodeAt(z)) & H_LABEL) z++;
        if (z > end + 1) end = z;
      }
      const next = end < n ? work.charCodeAt(end) : 32;
      if (colons < 2 || hostClass(prev) & H_IP_BLOCK || prev === 58 || (hostClass(next) & (H_LABEL | H_RUN) && next !== 46)) {
        // Not an address, or glued to a word: skip the whole word.
        while (end < n && (hostClass(work.charCodeAt(end)) & H_RUN || work.charCodeAt(end) === 58)) end++;
        i = Math.max(end, i + 1);
        continue;
      }
      let e = j;
      while (e > i && work.charCodeAt(e - 1) === 46) e--;
      if (e - i >= 2 && work.charCodeAt(e - 1) === 58 && work.charCodeAt(e - 2) !== 58) e--;
      const text = work.slice(i, e);
      const v6 = isPlausibleIpv6Text(text) ? normalizeIpv6(text) : undefined;
      if (v6 !== undefined) {
        let spanEnd = end;
        let network = false;
        if (spanEnd === e && work.charCodeAt(e) === 47 /* / prefix length */) {
          let p = e + 1;
          while (p < n && p - e <= 3 && hostClass(work.charCodeAt(p)) & H_DIGIT) p++;
          if (p > e + 1 && !(hostClass(work.charCodeAt(p)) & H_LABEL)) {
            network = work.slice(e + 1, p) !== '128';
            spanEnd = p;
          }
        }
        if (!network) found.push({ pos: i, type: T_IPV6, value: v6 });
        spans.push(i, spanEnd);
        i = spanEnd;
      } else {
        i = end;
      }
    }
    return spans;
  }

  /** IPv4 addresses and domains, left to right. Returns false when a lookbehind left the token. */
  private hosts(work: string, defanged: boolean, found: Finding[], s: string, tokStart: number): boolean {
    const n = work.length;
    let contextFree = true;
    let i = 0;
    while (i < n) {
      const hc = hostClass(work.charCodeAt(i));
      if (!(hc & H_LABEL)) {
        i++;
        continue;
      }
      const prevClass = i > 0 ? hostClass(work.charCodeAt(i - 1)) : 0;
      if (hc & H_DIGIT && !(prevClass & H_IP_BLOCK)) {
        const e = readIpv4(work, i);
        if (e > 0 && this.ipv4EndsCleanly(work, e)) {
          if (i < LOOKBEHIND) contextFree = false;
          i = this.ipv4(work, i, e, defanged, found, s, tokStart);
          continue;
        }
      }
      let j = i;
      let dots = 0;
      for (; j < n; j++) {
        const c = work.charCodeAt(j);
        if (!(hostClass(c) & H_RUN)) break;
        if (c === 46) dots++;
      }
      if (dots > 0 && !(prevClass & H_DOMAIN_BLOCK)) this.domain(work, i, j, defanged, found);
      i = j;
    }
    return contextFree;
  }

  private ipv4EndsCleanly(work: string, e: number): boolean {
    if (e >= work.length) return true;
    const next = work.charCodeAt(e);
    if (hostClass(next) & H_LABEL || next === 95) return false;
    if (next === 46 && hostClass(work.charCodeAt(e + 1)) & H_LABEL) return false;
    return true;
  }

  /** Handles the IPv4 address work[i, e); returns where scanning resumes. */
  private ipv4(work: string, i: number, e: number, defanged: boolean, found: Finding[], s: string, tokStart: number): number {
    const n = work.length;
    if (work.charCodeAt(e) === 47 /* / */) {
      let p = e + 1;
      while (p < n && p - e <= 2 && hostClass(work.charCodeAt(p)) & H_DIGIT) p++;
      if (p > e + 1 && (p >= n || !(hostClass(work.charCodeAt(p)) & (H_LABEL | H_RUN)) || work.charCodeAt(p) === 46)) {
        const prefix = Number(work.slice(e + 1, p));
        if (prefix <= 32) {
          // A CIDR network is not a host: report only a /32.
          if (prefix === 32) found.push({ pos: i, type: T_IPV4, value: work.slice(i, e) });
          return p;
        }
      }
    }
    const before = (i < LOOKBEHIND ? s.slice(Math.max(0, tokStart - (LOOKBEHIND - i)), tokStart) : '') + work.slice(Math.max(0, i - LOOKBEHIND), i);
    if (VERSION_BEFORE.test(before)) return e;
    const ip = work.slice(i, e);
    if (defanged) {
      const end = this.schemelessUrl(work, i, e, found);
      if (end > 0) return end;
    }
    found.push({ pos: i, type: T_IPV4, value: ip });
    return e;
  }

  /**
   * A defanged host work[i, hostEnd) followed by an optional port and a path is a URL
   * written without scheme ("evil[.]com/gate.php"): reported as http://. Returns the end
   * of the URL, or -1 when there is no path.
   */
  private schemelessUrl(work: string, i: number, hostEnd: number, found: Finding[]): number {
    const n = work.length;
    let q = hostEnd;
    if (q < n && work.charCodeAt(q) === 58) {
      let p = q + 1;
      while (p < n && hostClass(work.charCodeAt(p)) & H_DIGIT) p++;
      if (p === q + 1 || p - q > 6) return -1;
      q = p;
    }
    if (q >= n || work.charCodeAt(q) !== 47) return -1;
    const end = urlBodyEnd(work, i);
    const parsed = normalizeUrl('http', work.slice(i, end));
    if (parsed === undefined) return -1;
    found.push({ pos: i, type: T_URL, value: parsed.url });
    this.pushHost(found, i + 1, parsed.hostKind, parsed.host);
    return end;
  }

  private domain(work: string, i: number, j: number, defanged: boolean, found: Finding[]): void {
    let e = j;
    while (e > i && work.charCodeAt(e - 1) === 46) e--;
    const text = work.slice(i, e);
    if (!text.includes('.') || text.includes('_')) return;
    const next = j < work.length ? work.charCodeAt(j) : 32;
    if (next === 40 /* ( */ || next === 64 /* @ */) return;
    const lower = text.toLowerCase();
    const check = checkDomain(lower);
    if (check === 'invalid') return;
    if (!defanged) {
      if (check === 'file-extension-tld' && !lower.startsWith('www.')) return;
      if (isTitleCase(text.slice(text.lastIndexOf('.') + 1))) return;
    } else if (e === j && this.schemelessUrl(work, i, e, found) > 0) {
      return;
    }
    found.push({ pos: i, type: T_DOMAIN, value: lower });
  }
}
