/**
 * What `soar-edr reputation` is asked about: IP addresses, domains and MD5/SHA1/SHA256
 * hashes, from arguments, files (one per line) or stdin. Pure parsing plus one streaming
 * reader; the command decides where the text comes from.
 *
 * Each target gets one canonical form so duplicates collapse the way the alert action
 * would see them: addresses as the address gate writes them (::ffff:1.2.3.4 and
 * 64:ff9b::102:304 are 1.2.3.4; IPv6 in RFC 5952 form), domains lower-case ASCII without a
 * trailing dot, hashes lower-case. Common defanged spellings (1.2.3[.]4, evil(.)com,
 * example[dot]com, 2001:db8[:]:1) are refanged first: analysts paste them from reports.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseIpAddress } from '../address/ip-address';
import { classifyAddress } from '../intel/address-gate';
import { HashKind, parseVtSubject } from '../intel/virustotal-object';
import { fail, ok, Result } from '../result';

export type TargetType = 'ip' | 'domain' | HashKind;

export interface Target {
  readonly type: TargetType;
  /** Canonical form (see the file comment). */
  readonly value: string;
}

/** Where a piece of input came from, for messages: a file name, "<stdin>" or "argument". */
export interface InputOrigin {
  readonly source: string;
  /** 1-based line (files and stdin) or argument position. */
  readonly line: number;
}

export interface InvalidTarget extends InputOrigin {
  /** The offending text, cut to 80 characters. */
  readonly text: string;
  readonly message: string;
}

const MAX_TARGET_CHARS = 300;
const DEFANGS: readonly [RegExp, string][] = [
  [/\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)/gi, '.'],
  [/\[:\]/g, ':'],
];
const URL_LIKE = /^(?:[a-z][a-z0-9+.-]*|hxxps?|fxp):\/\//i;

function refang(text: string): string {
  let out = text;
  for (const [pattern, replacement] of DEFANGS) out = out.replace(pattern, replacement);
  return out;
}

function shown(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

/** One target from one piece of text (already trimmed of comments). */
export function parseTarget(raw: string): Result<Target, 'invalid_target'> {
  const text = raw.trim();
  if (text === '') return fail('invalid_target', 'empty target');
  if (text.length > MAX_TARGET_CHARS) return fail('invalid_target', `${shown(text)} is too long for an IP address, domain or hash`);
  if (/\s/.test(text)) return fail('invalid_target', `${shown(text)} holds more than one word; give one IP address, domain or hash per line`);
  if (URL_LIKE.test(text)) return fail('invalid_target', `${shown(text)} is a URL; give its host name or address`);
  const plain = refang(text);
  const address = parseIpAddress(plain);
  // The gate's form is what gets looked up (a NAT64 address becomes its embedded IPv4 address).
  if (address.ok) return ok({ type: 'ip', value: classifyAddress(address.value).address });
  // A zone-scoped address is still an address the user asked about: kept (canonical, zone as
  // typed) so the lookup reports it skipped, with the parser's reason, instead of as garbage.
  const zoneAt = plain.indexOf('%');
  const scoped = zoneAt > 0 ? parseIpAddress(plain.slice(0, zoneAt)) : undefined;
  if (scoped?.ok && scoped.value.family === 6) return ok({ type: 'ip', value: `${scoped.value.text}${plain.slice(zoneAt)}` });
  const subject = parseVtSubject(plain);
  if (subject !== undefined) return ok(subject.kind === 'file' ? { type: subject.hash, value: subject.id } : { type: 'domain', value: subject.id });
  if (/^[0-9a-f]+$/i.test(plain)) {
    return fail('invalid_target', `${shown(text)} is ${plain.length} hex digits; an MD5, SHA1 or SHA256 hash has 32, 40 or 64`);
  }
  return fail('invalid_target', `${shown(text)} is not an IP address, domain, or MD5/SHA1/SHA256 hash`);
}

/** The target part of one input line: blank lines and `#` comments (whole-line or after a space) give undefined. */
export function lineContent(line: string): string | undefined {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  const comment = /\s#/.exec(trimmed);
  const content = (comment ? trimmed.slice(0, comment.index) : trimmed).trim();
  return content === '' ? undefined : content;
}

/**
 * Targets in first-seen order without duplicates, and what was not a target. Feed it
 * arguments and lines as they come (a large file is never held in memory as text).
 */
export class TargetCollector {
  private readonly seen = new Set<string>();
  readonly targets: Target[] = [];
  readonly invalid: InvalidTarget[] = [];
  duplicates = 0;

  /** Adds a target; returns false (and records why) when `text` is not one. */
  add(text: string, origin: InputOrigin): boolean {
    const parsed = parseTarget(text);
    if (!parsed.ok) {
      this.invalid.push({ ...origin, text: text.length > 80 ? `${text.slice(0, 80)}…` : text, message: parsed.error.message });
      return false;
    }
    this.addTarget(parsed.value);
    return true;
  }

  addTarget(target: Target): void {
    const key = `${target.type}:${target.value}`;
    if (this.seen.has(key)) {
      this.duplicates++;
      return;
    }
    this.seen.add(key);
    this.targets.push(target);
  }

  /** Every line of `text` (files read whole in tests, or a short stdin). */
  addLines(text: string, source: string): void {
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const content = lineContent(lines[i]);
      if (content !== undefined) this.add(content, { source, line: i + 1 });
    }
  }
}

/** Reads `stream` line by line into the collector. CRLF line ends are fine. */
export async function collectStream(stream: Readable, source: string, into: TargetCollector): Promise<void> {
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let n = 0;
  for await (const line of lines) {
    n++;
    const content = lineContent(line);
    if (content !== undefined) into.add(content, { source, line: n });
  }
}

/** "FILE:LINE: message", the form compilers use, so editors can jump to it. */
export function formatInvalid(entry: InvalidTarget): string {
  return entry.source === 'argument' ? `argument ${entry.line}: ${entry.message}` : `${entry.source}:${entry.line}: ${entry.message}`;
}

/** Extensions of the lists people pass: such an argument that names no file is a mistyped file, not a domain. */
const LIST_EXTENSIONS = /\.(?:txt|csv|tsv|log|lst|list|json|jsonl|xml|gz|ioc|iocs|md)$/i;

export type ArgumentKind = { readonly kind: 'stdin' } | { readonly kind: 'file'; readonly path: string } | { readonly kind: 'target' } | { readonly kind: 'missing_file'; readonly message: string };

/**
 * What a command-line argument is. Addresses and hashes are targets; otherwise an
 * existing file wins over a domain of the same spelling; a path (with a slash) or a list
 * file name that names nothing is a missing file. `isReadableFile` is the one look at disk.
 */
export function classifyArgument(arg: string, isReadableFile: (path: string) => boolean): ArgumentKind {
  if (arg === '-') return { kind: 'stdin' };
  const parsed = parseTarget(arg);
  if (parsed.ok && parsed.value.type !== 'domain') return { kind: 'target' };
  if (isReadableFile(arg)) return { kind: 'file', path: arg };
  if (parsed.ok && !LIST_EXTENSIONS.test(arg)) return { kind: 'target' };
  if (/[/\\]/.test(arg) || LIST_EXTENSIONS.test(arg)) return { kind: 'missing_file', message: `${arg}: no such file` };
  return { kind: 'target' };
}
