/**
 * AbuseIPDB APIv2 `GET /check`: the report body and the error responses, as pure data.
 * See test/fixtures/corpus/abuseipdb/ (the docs' bodies and 42 real responses).
 *
 * Every report field may be null or absent in real responses (isWhitelisted is null when
 * no whitelist lookup was done, lastReportedAt when never reported, countryCode/isp/domain
 * for reserved addresses), so every field reads as `null` when missing.
 */
import { fail, ok, Result } from '../result';
import { parseIpAddress } from '../address/ip-address';
import { asJsonObject, describeJsonValue, JsonFieldReader } from './json-fields';
import { describeNonJsonBody, headerValue, HttpHeaders, oneLine, parseJsonText, ProviderError, ProviderErrorKind } from './provider-error';

export interface AbuseReport {
  readonly state: 'report';
  /** `data.ipAddress` as returned. */
  readonly ipAddress: string | null;
  /** AbuseIPDB's own opinion; false for reserved/private addresses. */
  readonly isPublic: boolean | null;
  readonly ipVersion: 4 | 6 | null;
  /** AbuseIPDB: "should not be used as a basis for action"; null when not looked up. */
  readonly isWhitelisted: boolean | null;
  /** 0–100. */
  readonly abuseConfidenceScore: number | null;
  readonly countryCode: string | null;
  /** Only in `verbose` responses. */
  readonly countryName: string | null;
  readonly usageType: string | null;
  readonly isp: string | null;
  readonly domain: string | null;
  readonly hostnames: readonly string[];
  readonly isTor: boolean | null;
  /** Reports within maxAgeInDays. */
  readonly totalReports: number | null;
  readonly numDistinctUsers: number | null;
  /** ISO 8601 as sent, e.g. 2018-12-20T20:55:14+00:00. */
  readonly lastReportedAt: string | null;
  /** https://www.abuseipdb.com/check/<ip>, or null when no valid address is known. */
  readonly link: string | null;
}

export type AbuseReportErrorKind = 'malformed_response' | 'unexpected_subject' | 'provider_error';

const CHECK_PAGE = 'https://www.abuseipdb.com/check/';

/** Details of a JSON:API `errors` array, joined; undefined when the value is not one. */
function errorDetails(value: unknown): string | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const details = value.map((e) => {
    const o = asJsonObject(e);
    return o && typeof o.detail === 'string' ? oneLine(o.detail) : 'no detail';
  });
  return details.join('; ');
}

/**
 * Parse a `/check` body (already JSON-decoded), verbose or not. When `requestedIp` is
 * given, a body about a different address fails, and the link is built from it.
 */
/** The canonical text of an address, or null when `text` is not one. */
function canonicalText(text: string): string | null {
  const parsed = parseIpAddress(text);
  return parsed.ok ? parsed.value.text : null;
}

export function parseAbuseIpdbCheck(body: unknown, requestedIp?: string): Result<AbuseReport, AbuseReportErrorKind> {
  const root = asJsonObject(body);
  if (root === undefined) return fail('malformed_response', `AbuseIPDB response is ${describeJsonValue(body)}, expected a JSON object`);
  const errors = errorDetails(root.errors);
  if (errors !== undefined) return fail('provider_error', `AbuseIPDB returned errors: ${errors}`);
  const data = asJsonObject(root.data);
  if (data === undefined) {
    return fail('malformed_response', `AbuseIPDB response has no data object (got ${root.data === undefined ? 'no "data" key' : describeJsonValue(root.data)})`);
  }

  const r = new JsonFieldReader(data, 'data');
  const ipAddress = r.string('ipAddress');
  const report = {
    isPublic: r.boolean('isPublic'),
    isWhitelisted: r.boolean('isWhitelisted'),
    abuseConfidenceScore: r.integer('abuseConfidenceScore', 0, 100),
    countryCode: r.string('countryCode'),
    countryName: r.string('countryName'),
    usageType: r.string('usageType'),
    isp: r.string('isp'),
    domain: r.string('domain'),
    hostnames: r.stringArray('hostnames'),
    isTor: r.boolean('isTor'),
    totalReports: r.integer('totalReports', 0, Number.MAX_SAFE_INTEGER),
    numDistinctUsers: r.integer('numDistinctUsers', 0, Number.MAX_SAFE_INTEGER),
    lastReportedAt: r.string('lastReportedAt'),
  };
  if (r.problem) return fail('malformed_response', `AbuseIPDB ${r.problem}`);
  const ipVersion = data.ipVersion ?? null;
  if (ipVersion !== null && ipVersion !== 4 && ipVersion !== 6) {
    return fail('malformed_response', `AbuseIPDB data.ipVersion is ${describeJsonValue(ipVersion)}, expected 4 or 6`);
  }

  const answered = ipAddress === null ? null : canonicalText(ipAddress);
  const asked = requestedIp === undefined ? null : canonicalText(requestedIp);
  if (asked !== null && answered !== null && asked !== answered) {
    return fail('unexpected_subject', `AbuseIPDB answered about ${answered}, but we asked about ${asked}`);
  }
  const linkAddress = asked ?? answered;
  return ok({
    state: 'report',
    ipAddress,
    ipVersion,
    ...report,
    link: linkAddress === null ? null : CHECK_PAGE + linkAddress,
  });
}

// ---------------------------------------------------------------------------------------
// Errors

export interface AbuseIpdbRateLimit {
  /** X-RateLimit-Limit: the daily limit. */
  readonly limit: number | null;
  /** X-RateLimit-Remaining. */
  readonly remaining: number | null;
  /** X-RateLimit-Reset: unix seconds when the daily limit resets. */
  readonly resetAt: number | null;
}

export interface AbuseIpdbError extends ProviderError {
  /** Retry-After in its delta-seconds form. */
  readonly retryAfterSeconds?: number;
  /** Retry-After in its HTTP-date form, as unix seconds. */
  readonly retryAt?: number;
  /** Present when any X-RateLimit-* header was sent. */
  readonly rateLimit?: AbuseIpdbRateLimit;
}

function statusMeaning(status: number): { kind: ProviderErrorKind; retryable: boolean } {
  if (status === 401 || status === 403) return { kind: 'auth', retryable: false };
  if (status === 404) return { kind: 'not_found', retryable: false };
  if (status === 429) return { kind: 'quota', retryable: true };
  if (status === 408 || (status >= 500 && status <= 599)) return { kind: 'transient', retryable: true };
  if (status === 400 || status === 413 || status === 422) return { kind: 'bad_request', retryable: false };
  return { kind: 'unknown', retryable: false };
}

const ADVICE: Readonly<Record<ProviderErrorKind, string>> = {
  auth: 'check the abuseipdb_api_key secret (or SOAR_ABUSEIPDB_API_KEY)',
  not_found: 'AbuseIPDB endpoint not found; check SOAR_ABUSEIPDB_URL',
  quota: 'AbuseIPDB rate limit reached; defer the lookup',
  transient: 'AbuseIPDB server-side problem; retrying later may work',
  bad_request: 'AbuseIPDB rejected the request parameters',
  unknown: 'unexpected AbuseIPDB response',
};

function nonNegativeInteger(text: string | undefined): number | null {
  if (text === undefined) return null;
  const t = text.trim();
  return /^\d{1,15}$/.test(t) ? Number(t) : null;
}

function isoSeconds(unixSeconds: number): string {
  const date = new Date(unixSeconds * 1000);
  return Number.isNaN(date.getTime()) ? `${unixSeconds}` : date.toISOString().replace('.000Z', 'Z');
}

/**
 * Classify a non-2xx AbuseIPDB response: 401 (bad key), 422 (bad parameter), 429 (daily
 * limit, with Retry-After and X-RateLimit-* headers), 5xx. Without `Accept:
 * application/json` AbuseIPDB answers with an HTML page; that still classifies by status.
 */
export function parseAbuseIpdbError(status: number, bodyText: string, headers: HttpHeaders = {}): AbuseIpdbError {
  const json = parseJsonText(bodyText);
  const details = errorDetails(asJsonObject(json)?.errors);
  const detail = details !== undefined
    ? details
    : json !== undefined
      ? `unexpected JSON body: ${oneLine(bodyText.slice(0, 400))}`
      : `non-JSON body: ${describeNonJsonBody(bodyText)}`;
  const meaning = statusMeaning(status);

  const retryAfterText = headerValue(headers, 'retry-after');
  const retryAfterSeconds = nonNegativeInteger(retryAfterText);
  let retryAt: number | null = null;
  if (retryAfterSeconds === null && retryAfterText !== undefined) {
    const ms = Date.parse(retryAfterText);
    if (Number.isFinite(ms)) retryAt = Math.floor(ms / 1000);
  }
  const limit = nonNegativeInteger(headerValue(headers, 'x-ratelimit-limit'));
  const remaining = nonNegativeInteger(headerValue(headers, 'x-ratelimit-remaining'));
  const resetAt = nonNegativeInteger(headerValue(headers, 'x-ratelimit-reset'));
  const hasRateLimit = limit !== null || remaining !== null || resetAt !== null;

  const when: string[] = [];
  if (retryAfterSeconds !== null) when.push(`retry after ${retryAfterSeconds} s`);
  if (retryAt !== null) when.push(`retry at ${isoSeconds(retryAt)}`);
  if (hasRateLimit) {
    const parts = [
      limit !== null ? `limit ${limit}` : undefined,
      remaining !== null ? `remaining ${remaining}` : undefined,
      resetAt !== null ? `resets ${isoSeconds(resetAt)}` : undefined,
    ].filter((p): p is string => p !== undefined);
    when.push(parts.join(', '));
  }
  const advice = ADVICE[meaning.kind] + (when.length > 0 ? ` (${when.join('; ')})` : '');

  return {
    kind: meaning.kind,
    status,
    message: `AbuseIPDB HTTP ${status}: ${detail}; ${advice}`,
    retryable: meaning.retryable,
    ...(retryAfterSeconds !== null ? { retryAfterSeconds } : {}),
    ...(retryAt !== null ? { retryAt } : {}),
    ...(hasRateLimit ? { rateLimit: { limit, remaining, resetAt } } : {}),
  };
}
