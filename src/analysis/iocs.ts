/**
 * IOC extraction: IPv4, IPv6, domains, URLs, email addresses, MD5 / SHA-1 / SHA-256 /
 * SHA-512 hashes and CVE ids from free text (threat reports, emails, logs), refanged,
 * normalised and deduplicated in first-seen order. Pure: text in, lists out; the caller
 * reads files or stdin and prints.
 *
 * What counts as an indicator (and what is deliberately not one) is documented in
 * iocs-scan.ts; defanged spellings in iocs-refang.ts; the TLD rule in iocs-tlds.ts.
 */
import { fail, ok, type Result } from '../result';
import { StringDecoder } from 'node:string_decoder';
import { IocScanner } from './iocs-scan';
import { IOC_TYPES, type IocExtractOptions, type IocSet, type IocType } from './iocs-types';

export { IOC_TYPES, type IocExtractOptions, type IocSet, type IocType } from './iocs-types';
export { refang } from './iocs-refang';

/** Extracts every indicator from `text` (one call; see createIocExtractor for streams). */
export function extractIocs(text: string, options: IocExtractOptions = {}): IocSet {
  const scanner = new IocScanner(options);
  scanner.scanBlock(text);
  return scanner.result();
}

/** Incremental extraction for inputs too large to hold at once. */
export interface IocExtractor {
  /**
   * Feeds the next piece of text. Pieces may cut anywhere, even inside an indicator:
   * complete lines are scanned, the unfinished line waits for the next piece.
   */
  write(chunk: string): Result<void, 'extractor-ended'>;
  /** Scans what is left and returns everything found. Later calls return the same result. */
  end(): IocSet;
}

// A "line" longer than this without a line break is cut at its last whitespace anyway,
// so memory stays bounded whatever the input.
const MAX_CARRY_CHARS = 1 << 20;

function isCutPoint(c: number): boolean {
  return c === 10 || c === 13 || c === 32 || c === 9;
}

class StreamingExtractor implements IocExtractor {
  private readonly scanner: IocScanner;
  // The unfinished last line of what was written so far.
  private carry = '';
  private finished: IocSet | undefined;

  constructor(options: IocExtractOptions) {
    this.scanner = new IocScanner(options);
  }

  write(chunk: string): Result<void, 'extractor-ended'> {
    if (this.finished !== undefined) {
      return fail('extractor-ended', 'write() after end(): this extractor already returned its result; create a new one for more input');
    }
    if (chunk.length === 0) return ok(undefined);
    const first = chunk.indexOf('\n');
    if (first < 0) {
      this.carry += chunk;
      if (this.carry.length >= MAX_CARRY_CHARS) this.cutLongLine();
      return ok(undefined);
    }
    // The chunk is scanned where it lies; only the line it completes is copied.
    this.scanner.scanBlock(this.carry + chunk.slice(0, first + 1));
    const last = chunk.lastIndexOf('\n');
    if (last > first) this.scanner.scanBlock(chunk, first + 1, last + 1);
    this.carry = chunk.slice(last + 1);
    return ok(undefined);
  }

  private cutLongLine(): void {
    const text = this.carry;
    let cut = text.length;
    while (cut > 0 && !isCutPoint(text.charCodeAt(cut - 1))) cut--;
    if (cut === 0) cut = text.length;
    this.scanner.scanBlock(text, 0, cut);
    this.carry = text.slice(cut);
  }

  end(): IocSet {
    if (this.finished === undefined) {
      this.scanner.scanBlock(this.carry);
      this.carry = '';
      this.finished = this.scanner.result();
    }
    return this.finished;
  }
}

/** Starts an incremental extraction (feed chunks with write(), finish with end()). */
export function createIocExtractor(options: IocExtractOptions = {}): IocExtractor {
  return new StreamingExtractor(options);
}

/**
 * Extracts from a stream of text or UTF-8 bytes (a file or stdin read stream, any async
 * iterable). Multi-byte characters split between chunks are decoded correctly. A read error
 * becomes a 'read-failed' result naming the cause.
 */
export async function extractIocsFromStream(
  source: AsyncIterable<string | Uint8Array>,
  options: IocExtractOptions = {},
): Promise<Result<IocSet, 'read-failed'>> {
  const extractor = createIocExtractor(options);
  const decoder = new StringDecoder('utf8');
  try {
    for await (const chunk of source) {
      extractor.write(typeof chunk === 'string' ? chunk : decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
    }
  } catch (err) {
    const cause = err instanceof Error ? err.message : String(err);
    return fail('read-failed', `could not read the input: ${cause}`);
  }
  extractor.write(decoder.end());
  return ok(extractor.end());
}

/**
 * Parses a comma-separated list of kinds ("ipv4,domains,sha256"), as a --types option would
 * give it. Unknown names are an error that lists the valid ones.
 */
export function parseIocTypes(list: string): Result<IocType[], 'unknown-ioc-type'> {
  const names = list
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter((n) => n.length > 0);
  if (names.length === 0) {
    return fail('unknown-ioc-type', `no IOC type given; expected a comma-separated list of: ${IOC_TYPES.join(', ')}`);
  }
  const known = new Set<string>(IOC_TYPES);
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    return fail('unknown-ioc-type', `unknown IOC type ${unknown.map((n) => `'${n}'`).join(', ')}; expected one or more of: ${IOC_TYPES.join(', ')}`);
  }
  return ok(Array.from(new Set(names)) as IocType[]);
}

/**
 * The defanged spelling of a (normalised) indicator for output that must not be clickable:
 * every dot of a host becomes "[.]", a URL's scheme hxxp / hxxps / fxp, an email's "@"
 * becomes "[@]" and an IPv6's colons "[:]". Hashes and CVE ids are returned unchanged.
 * refang() undoes it.
 */
export function defang(ioc: string, type: IocType): string {
  switch (type) {
    case 'ipv4':
    case 'domains':
      return ioc.replace(/\./g, '[.]');
    case 'ipv6':
      return ioc.replace(/:/g, '[:]');
    case 'emails': {
      const at = ioc.lastIndexOf('@');
      if (at < 0) return ioc.replace(/\./g, '[.]');
      return `${ioc.slice(0, at)}[@]${ioc.slice(at + 1).replace(/\./g, '[.]')}`;
    }
    case 'urls':
      return defangUrl(ioc);
    default:
      return ioc;
  }
}

function defangUrl(url: string): string {
  const sep = url.indexOf('://');
  if (sep < 0) return url.replace(/\./g, '[.]');
  const scheme = url.slice(0, sep).replace(/^http/i, 'hxxp').replace(/^ftp/i, 'fxp');
  const bodyStart = sep + 3;
  let authEnd = url.length;
  for (let i = bodyStart; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 47 || c === 63 || c === 35) {
      authEnd = i;
      break;
    }
  }
  const authority = url.slice(bodyStart, authEnd);
  // Bracketed IPv6 hosts stay as they are: "[.]" inside a literal would not refang cleanly.
  const host = authority.includes('[') ? authority : authority.replace(/\./g, '[.]');
  return `${scheme}://${host}${url.slice(authEnd)}`;
}
