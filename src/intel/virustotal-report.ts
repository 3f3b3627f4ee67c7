/**
 * VirusTotal API v3 `GET /ip_addresses/{ip}`: the report body and the error responses,
 * as pure data. See test/fixtures/corpus/virustotal/ (captured and published bodies) and the
 * error table of https://docs.virustotal.com/reference/errors.
 */
import { fail, ok, Result } from '../result';
import { parseIpAddress } from '../address/ip-address';
import { asJsonObject, describeJsonValue, JsonFieldReader, JsonObject } from './json-fields';
import { describeNonJsonBody, oneLine, parseJsonText, ProviderError, ProviderErrorKind } from './provider-error';

export const VT_STAT_NAMES = ['malicious', 'suspicious', 'harmless', 'undetected', 'timeout'] as const;
export type VtStatName = (typeof VT_STAT_NAMES)[number];

/** `last_analysis_stats`: how many engines put the address in each category. */
export type VtAnalysisStats = { readonly [K in VtStatName]: number };

/** What every VirusTotal report carries, address, domain or file alike, read by the same rules. */
export interface VtReportFields {
  readonly state: 'report';
  /**
   * `data.id` as VirusTotal returned it (anonymised samples carry placeholders like ":ip:";
   * a file's id is its SHA256 whichever hash was asked).
   */
  readonly id: string | null;
  /** Missing counts read as 0; see `statsPresent` and `missingStats`. */
  readonly stats: VtAnalysisStats;
  /** false when the body had no `last_analysis_stats` object at all: the counts are not evidence. */
  readonly statsPresent: boolean;
  /** Which of the five counts were absent (all five when `statsPresent` is false). */
  readonly missingStats: readonly VtStatName[];
  /** Sum of the five counts: the "97" in "4/97 engines malicious". */
  readonly engines: number;
  /** VirusTotal community reputation (negative is bad); null when absent. */
  readonly reputation: number | null;
  /** Unix seconds of the last analysis; null when absent (captured responses often lack it). */
  readonly lastAnalysisDate: number | null;
}

export interface VtIpReport extends VtReportFields {
  /** The address we asked about, canonical (dotted quad or RFC 5952). */
  readonly ip: string;
  readonly country: string | null;
  readonly asOwner: string | null;
  readonly asn: number | null;
  readonly network: string | null;
  /** https://www.virustotal.com/gui/ip-address/<ip> */
  readonly guiLink: string;
}

export type VtReportErrorKind = 'invalid_argument' | 'malformed_response' | 'unexpected_type' | 'unexpected_subject' | 'provider_error';

const GUI_BASE = 'https://www.virustotal.com/gui/ip-address/';
/** Unix seconds up to year 9999: anything larger is not a date. */
const MAX_EPOCH_SECONDS = 253402300799;
/** No scan has a billion engines; a larger count is corruption. */
const MAX_ENGINE_COUNT = 1_000_000;

export function virusTotalGuiLink(ip: string): string {
  return GUI_BASE + ip;
}

/** `data.attributes.last_analysis_stats` of any VirusTotal object (address, domain, file). */
export function readStats(attributes: JsonObject): Result<Pick<VtReportFields, 'stats' | 'statsPresent' | 'missingStats'>, 'malformed_response'> {
  const raw = attributes.last_analysis_stats;
  if (raw === undefined || raw === null) {
    const stats = { malicious: 0, suspicious: 0, harmless: 0, undetected: 0, timeout: 0 };
    return ok({ stats, statsPresent: false, missingStats: VT_STAT_NAMES });
  }
  const object = asJsonObject(raw);
  if (object === undefined) {
    return fail('malformed_response', `VirusTotal data.attributes.last_analysis_stats is ${describeJsonValue(raw)}, expected an object`);
  }
  const reader = new JsonFieldReader(object, 'data.attributes.last_analysis_stats');
  const counts: Record<VtStatName, number> = { malicious: 0, suspicious: 0, harmless: 0, undetected: 0, timeout: 0 };
  const missing: VtStatName[] = [];
  for (const name of VT_STAT_NAMES) {
    const value = reader.integer(name, 0, MAX_ENGINE_COUNT);
    if (value === null) missing.push(name);
    else counts[name] = value;
  }
  if (reader.problem) return fail('malformed_response', `VirusTotal ${reader.problem}`);
  return ok({ stats: counts, statsPresent: true, missingStats: missing });
}

/**
 * The `data` object of a VirusTotal body about `what` (an address, "domain x", "SHA256 y"),
 * which must be of `type` when it says. Both the full body `{"data": {...}}` and the bare
 * inner object are accepted; an `error` object is VirusTotal's error, not a report.
 */
export function readVtData(body: unknown, what: string, type: string): Result<JsonObject, VtReportErrorKind> {
  const root = asJsonObject(body);
  if (root === undefined) return fail('malformed_response', `VirusTotal response is ${describeJsonValue(body)}, expected a JSON object`);

  const error = asJsonObject(root.error);
  if (error !== undefined) {
    const code = typeof error.code === 'string' ? oneLine(error.code, 60) : 'unknown code';
    const message = typeof error.message === 'string' ? oneLine(error.message) : 'no message';
    return fail('provider_error', `VirusTotal returned an error object for ${what}: ${code}: ${message}`);
  }

  const data = root.data !== undefined ? asJsonObject(root.data) : root.attributes !== undefined ? root : undefined;
  if (data === undefined) {
    return fail('malformed_response', `VirusTotal response for ${what} has no data object (got ${root.data === undefined ? 'no "data" key' : describeJsonValue(root.data)})`);
  }
  if (data.type !== undefined && data.type !== type) {
    return fail('unexpected_type', `VirusTotal response for ${what} describes ${describeJsonValue(data.type)}, expected type "${type}"`);
  }
  return ok(data);
}

/** `data.attributes`, which every report needs. */
export function readVtAttributes(data: JsonObject, what: string): Result<JsonObject, 'malformed_response'> {
  const attributes = asJsonObject(data.attributes);
  if (attributes === undefined) {
    return fail('malformed_response', `VirusTotal data.attributes for ${what} is ${describeJsonValue(data.attributes)}, expected an object`);
  }
  return ok(attributes);
}

/**
 * Parse a `GET /api/v3/ip_addresses/{ip}` body (already JSON-decoded). `requestedIp` is
 * the address we asked about; the GUI link is built from it, not from `data.id`, because
 * an anonymised sample or a stub may carry a placeholder there (":ip:"). A `data.id` that *is* a different address fails:
 * attributing another address's reputation would be worse than no answer.
 * Both the full body `{"data": {...}}` and the bare inner object (as in VirusTotal's own
 * fixtures, `{"attributes": ..., "type": "ip_address"}`) are accepted.
 */
export function parseVirusTotalIp(body: unknown, requestedIp: string): Result<VtIpReport, VtReportErrorKind> {
  const asked = parseIpAddress(requestedIp);
  if (!asked.ok) {
    return fail('invalid_argument', `requested address ${JSON.stringify(requestedIp.slice(0, 60))} is not an IP address`);
  }
  const ip = asked.value.text;
  const read = readVtData(body, ip, 'ip_address');
  if (!read.ok) return read;
  const data = read.value;
  const id = typeof data.id === 'string' ? data.id : null;
  if (id !== null) {
    const idAddress = parseIpAddress(id);
    if (idAddress.ok && idAddress.value.text !== ip) {
      return fail('unexpected_subject', `VirusTotal answered about ${idAddress.value.text}, but we asked about ${ip}`);
    }
  }
  const readAttributes = readVtAttributes(data, ip);
  if (!readAttributes.ok) return readAttributes;
  const attributes = readAttributes.value;

  const stats = readStats(attributes);
  if (!stats.ok) return stats;
  const reader = new JsonFieldReader(attributes, 'data.attributes');
  const reputation = reader.integer('reputation', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const country = reader.string('country');
  const asOwner = reader.string('as_owner');
  const asn = reader.integer('asn', 0, 4294967295);
  const network = reader.string('network');
  const lastAnalysisDate = reader.integer('last_analysis_date', 0, MAX_EPOCH_SECONDS);
  if (reader.problem) return fail('malformed_response', `VirusTotal ${reader.problem}`);

  const s = stats.value.stats;
  return ok({
    state: 'report',
    ip,
    id,
    ...stats.value,
    engines: s.malicious + s.suspicious + s.harmless + s.undetected + s.timeout,
    reputation,
    country,
    asOwner,
    asn,
    network,
    lastAnalysisDate,
    guiLink: virusTotalGuiLink(ip),
  });
}

// ---------------------------------------------------------------------------------------
// Errors

interface ErrorMeaning {
  readonly kind: ProviderErrorKind;
  readonly retryable: boolean;
}

/** Every code of the docs' error table. A Map, so a code like "constructor" cannot hit Object.prototype. */
const CODE_MEANINGS: ReadonlyMap<string, ErrorMeaning> = new Map(Object.entries({
  BadRequestError: { kind: 'bad_request', retryable: false },
  InvalidArgumentError: { kind: 'bad_request', retryable: false },
  // "The resource is not available yet, but will become available later."
  NotAvailableYet: { kind: 'transient', retryable: true },
  UnselectiveContentQueryError: { kind: 'bad_request', retryable: false },
  UnsupportedContentQueryError: { kind: 'bad_request', retryable: false },
  AuthenticationRequiredError: { kind: 'auth', retryable: false },
  UserNotActiveError: { kind: 'auth', retryable: false },
  WrongCredentialsError: { kind: 'auth', retryable: false },
  ForbiddenError: { kind: 'auth', retryable: false },
  NotFoundError: { kind: 'not_found', retryable: false },
  AlreadyExistsError: { kind: 'bad_request', retryable: false },
  // "The request depended on another request and that request failed."
  FailedDependencyError: { kind: 'transient', retryable: true },
  QuotaExceededError: { kind: 'quota', retryable: true },
  TooManyRequestsError: { kind: 'quota', retryable: true },
  TransientError: { kind: 'transient', retryable: true },
  DeadlineExceededError: { kind: 'transient', retryable: true },
} satisfies Record<string, ErrorMeaning>));

function statusMeaning(status: number): ErrorMeaning {
  if (status === 401 || status === 403) return { kind: 'auth', retryable: false };
  if (status === 404) return { kind: 'not_found', retryable: false };
  if (status === 429) return { kind: 'quota', retryable: true };
  if (status === 408 || status === 424 || (status >= 500 && status <= 599)) return { kind: 'transient', retryable: true };
  if (status === 400 || status === 409 || status === 413 || status === 422) return { kind: 'bad_request', retryable: false };
  return { kind: 'unknown', retryable: false };
}

const ADVICE: Readonly<Record<ProviderErrorKind, string>> = {
  auth: 'check the virustotal_api_key secret (or SOAR_VIRUSTOTAL_API_KEY) and that the account is active',
  not_found: 'VirusTotal has no report for this resource',
  quota: 'VirusTotal quota exhausted (per-minute, daily or monthly; daily quotas reset at 00:00 UTC); defer the lookup until it resets',
  transient: 'VirusTotal server-side problem; retrying later may work',
  bad_request: 'VirusTotal rejected the request as invalid',
  unknown: 'unexpected VirusTotal response',
};

/**
 * Classify a non-2xx VirusTotal response. The body is taken as text because real 429s
 * have come back in forms clients did not expect (VirusTotal/vt-go#35: not gzip-encoded);
 * a body that is not VirusTotal's `{"error": {"code", "message"}}` still yields an
 * answer from the status code alone. A known error code decides over the status.
 */
export function parseVirusTotalError(status: number, bodyText: string): ProviderError {
  let code: string | undefined;
  let detail: string;
  const json = parseJsonText(bodyText);
  const error = asJsonObject(asJsonObject(json)?.error);
  if (error !== undefined && (typeof error.code === 'string' || typeof error.message === 'string')) {
    if (typeof error.code === 'string' && error.code.trim() !== '') code = oneLine(error.code, 60);
    detail = typeof error.message === 'string' && error.message.trim() !== '' ? oneLine(error.message) : 'no message';
  } else if (json !== undefined) {
    detail = `unexpected JSON body: ${oneLine(bodyText.slice(0, 400))}`;
  } else {
    detail = `non-JSON body: ${describeNonJsonBody(bodyText)}`;
  }
  const meaning = (code !== undefined ? CODE_MEANINGS.get(code) : undefined) ?? statusMeaning(status);
  const message = `VirusTotal HTTP ${status}${code ? ` ${code}` : ''}: ${detail}; ${ADVICE[meaning.kind]}`;
  return code !== undefined
    ? { kind: meaning.kind, status, code, message, retryable: meaning.retryable }
    : { kind: meaning.kind, status, message, retryable: meaning.retryable };
}
