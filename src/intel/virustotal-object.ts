/**
 * VirusTotal API v3 domain and file reports: `GET {base}/domains/{domain}` and
 * `GET {base}/files/{md5|sha1|sha256}`, as pure data plus the client that asks.
 *
 * Both objects carry the same `last_analysis_stats` and `reputation` as an address report,
 * so the verdict reads them by the same rule. File reports count more categories than the
 * five we read ("type-unsupported", "confirmed-timeout", "failure"): those engines gave no
 * opinion on the file, so they are left out of `engines` as they are of the verdict.
 *
 * Bodies as captured by OpenCTI's VirusTotal connector tests (tawuhoju.com, and the file
 * 4bc00f7d…519b); see test/cli/fixtures/virustotal/SOURCE.md.
 */
import { domainToASCII } from 'node:url';
import { fail, ok, Result } from '../result';
import { isHeaderSafeToken } from './http-request';
import { JsonFieldReader, JsonObject } from './json-fields';
import { ProviderClientOptions, ProviderLookup, resolveBaseUrl, runLookup } from './provider-lookup';
import { interpretVirusTotalResponse, VIRUSTOTAL_DEFAULT_URL, VIRUSTOTAL_URL_SETTING } from './virustotal-client';
import { readStats, readVtAttributes, readVtData, VtReportErrorKind, VtReportFields } from './virustotal-report';

export type VtObjectKind = 'domain' | 'file';
export type HashKind = 'md5' | 'sha1' | 'sha256';

/** What to ask VirusTotal about, in canonical form (see parseVtSubject). */
export type VtSubject = { readonly kind: 'domain'; readonly id: string } | { readonly kind: 'file'; readonly id: string; readonly hash: HashKind };

export interface VtObjectReport extends VtReportFields {
  readonly kind: VtObjectKind;
  /** The domain or hash we asked about, canonical. */
  readonly subject: string;
  /** Files only (null for a domain). */
  readonly sha256: string | null;
  readonly md5: string | null;
  readonly sha1: string | null;
  readonly meaningfulName: string | null;
  readonly typeDescription: string | null;
  /** Domains only (null for a file). */
  readonly registrar: string | null;
  /** https://www.virustotal.com/gui/domain/<d> or …/gui/file/<hash>. */
  readonly guiLink: string;
}

export type VtObjectLookup = ProviderLookup<VtObjectReport>;

const HASH_LENGTHS: Readonly<Record<number, HashKind>> = { 32: 'md5', 40: 'sha1', 64: 'sha256' };
const HEX = /^[0-9a-f]+$/i;
/** RFC 1035 label (after IDNA): letters, digits, inner hyphens, at most 63 characters. */
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
/** A top-level domain is letters (or an IDNA "xn--" label); an all-digit last label is an address. */
const TLD = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;
const MAX_DOMAIN_CHARS = 253;
const MAX_EPOCH_SECONDS = 253402300799;
const MAX_ENGINE_COUNT = 1_000_000;

/** The hash kind of a 32/40/64 hex-digit string, else undefined. */
export function hashKind(text: string): HashKind | undefined {
  return HEX.test(text) ? HASH_LENGTHS[text.length] : undefined;
}

/**
 * A host name VirusTotal can have a domain report for, lower-case ASCII (IDNA) without a
 * trailing dot; undefined when `text` is not one (an address, a single label, a bad label).
 */
export function canonicalDomain(text: string): string | undefined {
  let name = text.trim().replace(/\.$/, '');
  if (name === '' || name.length > MAX_DOMAIN_CHARS * 2) return undefined;
  // domainToASCII lower-cases and converts Unicode labels; it answers '' for what is not a domain.
  if (/[^\x21-\x7e]/.test(name)) name = domainToASCII(name);
  else name = name.toLowerCase();
  if (name === '' || name.length > MAX_DOMAIN_CHARS) return undefined;
  const labels = name.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return undefined;
  return TLD.test(labels[labels.length - 1]) ? name : undefined;
}

/** A domain or an MD5/SHA1/SHA256 hash as VirusTotal names it; undefined for anything else. */
export function parseVtSubject(text: string): VtSubject | undefined {
  const trimmed = text.trim();
  const hash = hashKind(trimmed);
  if (hash !== undefined) return { kind: 'file', id: trimmed.toLowerCase(), hash };
  const domain = canonicalDomain(trimmed);
  return domain === undefined ? undefined : { kind: 'domain', id: domain };
}

export function vtObjectGuiLink(subject: VtSubject): string {
  return `https://www.virustotal.com/gui/${subject.kind}/${subject.id}`;
}

/** The API path below the base URL. */
export function vtObjectPath(subject: VtSubject): string {
  return subject.kind === 'domain' ? `/domains/${encodeURIComponent(subject.id)}` : `/files/${subject.id}`;
}

function label(subject: VtSubject): string {
  return subject.kind === 'domain' ? `domain ${subject.id}` : `${subject.hash.toUpperCase()} ${subject.id}`;
}

/** A response about another object than the one asked about; undefined when it is ours or cannot tell (placeholders). */
function otherSubject(subject: VtSubject, data: JsonObject, attributes: JsonObject): string | undefined {
  if (subject.kind === 'domain') {
    const id = typeof data.id === 'string' ? canonicalDomain(data.id) : undefined;
    return id !== undefined && id !== subject.id ? `domain ${id}` : undefined;
  }
  const given = attributes[subject.hash];
  if (typeof given === 'string' && hashKind(given) === subject.hash && given.toLowerCase() !== subject.id) return `${subject.hash.toUpperCase()} ${given.toLowerCase()}`;
  if (subject.hash === 'sha256' && typeof data.id === 'string' && hashKind(data.id) === 'sha256' && data.id.toLowerCase() !== subject.id) return `SHA256 ${data.id.toLowerCase()}`;
  return undefined;
}

function hashField(reader: JsonFieldReader, name: HashKind): string | null {
  const value = reader.string(name);
  return value !== null && hashKind(value) === name ? value.toLowerCase() : null;
}

/**
 * Parse a `GET /domains/{domain}` or `GET /files/{hash}` body (already JSON-decoded) about
 * `subject`. Both `{"data": {...}}` and the bare inner object are accepted, as for
 * addresses. A body about a different domain or file fails (`unexpected_subject`).
 */
export function parseVirusTotalObject(body: unknown, subject: VtSubject): Result<VtObjectReport, VtReportErrorKind> {
  const what = label(subject);
  const read = readVtData(body, what, subject.kind);
  if (!read.ok) return read;
  const data = read.value;
  const readAttributes = readVtAttributes(data, what);
  if (!readAttributes.ok) return readAttributes;
  const attributes = readAttributes.value;
  const other = otherSubject(subject, data, attributes);
  if (other !== undefined) return fail('unexpected_subject', `VirusTotal answered about ${other}, but we asked about ${what}`);

  const stats = readStats(attributes);
  if (!stats.ok) return stats;
  const reader = new JsonFieldReader(attributes, 'data.attributes');
  const reputation = reader.integer('reputation', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const lastAnalysisDate = reader.integer('last_analysis_date', 0, MAX_EPOCH_SECONDS);
  const isFile = subject.kind === 'file';
  const sha256 = isFile ? hashField(reader, 'sha256') : null;
  const md5 = isFile ? hashField(reader, 'md5') : null;
  const sha1 = isFile ? hashField(reader, 'sha1') : null;
  const meaningfulName = isFile ? reader.string('meaningful_name') : null;
  const typeDescription = isFile ? reader.string('type_description') : null;
  const registrar = isFile ? null : reader.string('registrar');
  if (reader.problem) return fail('malformed_response', `VirusTotal ${reader.problem}`);

  const s = stats.value.stats;
  const engines = s.malicious + s.suspicious + s.harmless + s.undetected + s.timeout;
  if (engines > MAX_ENGINE_COUNT) return fail('malformed_response', `VirusTotal last_analysis_stats for ${what} add up to ${engines} engines`);
  return ok({
    state: 'report',
    kind: subject.kind,
    subject: subject.id,
    id: typeof data.id === 'string' ? data.id : null,
    ...stats.value,
    engines,
    reputation,
    lastAnalysisDate,
    sha256,
    md5,
    sha1,
    meaningfulName,
    typeDescription,
    registrar,
    guiLink: vtObjectGuiLink(subject),
  });
}

/**
 * Look a domain or file up. `attempts` counts the HTTP requests made: zero when a check
 * before the request failed (missing or unusable key, bad base URL, deadline passed).
 */
export async function lookupVirusTotalObject(subject: VtSubject, options: ProviderClientOptions): Promise<VtObjectLookup> {
  const keySetting = 'the virustotal_api_key secret (or SOAR_VIRUSTOTAL_API_KEY)';
  if (options.apiKey.trim() === '') {
    return { state: 'error', attempts: 0, sent: 0, error: { kind: 'auth', message: `VirusTotal: no API key configured; set ${keySetting}` } };
  }
  if (!isHeaderSafeToken(options.apiKey)) {
    return { state: 'error', attempts: 0, sent: 0, error: { kind: 'auth', message: `VirusTotal: the API key contains spaces, line breaks or non-ASCII characters; re-enter ${keySetting}` } };
  }
  const base = resolveBaseUrl(options.baseUrl, VIRUSTOTAL_DEFAULT_URL, VIRUSTOTAL_URL_SETTING);
  if (!base.ok) return { state: 'error', error: base.error, attempts: 0, sent: 0 };
  const what = label(subject);
  return runLookup<VtObjectReport>(
    {
      provider: 'VirusTotal',
      url: base.url + vtObjectPath(subject),
      headers: { 'x-apikey': options.apiKey, accept: 'application/json' },
      interpret: (response, nowMs) => interpretVirusTotalResponse(what, response.status, response.bodyText, response.headers, nowMs, (body) => parseVirusTotalObject(body, subject)),
    },
    options,
  );
}
