/**
 * AbuseIPDB APIv2 `GET {base}/check?ipAddress=…&maxAgeInDays=90` with the `Key` header and
 * `Accept: application/json` (without it AbuseIPDB answers errors with an HTML page).
 * A 429 is the daily limit: not retried; its Retry-After / X-RateLimit-Reset become the
 * error's `retryAtMs` so the caller can penalize the shared limiter until then.
 */
import { AbuseReport, parseAbuseIpdbCheck, parseAbuseIpdbError } from './abuseipdb-report';
import { Interpretation, LookupError, preflight, ProviderClientOptions, ProviderLookup, resolveBaseUrl, runLookup } from './provider-lookup';
import { parseJsonText } from './provider-error';

export const ABUSEIPDB_DEFAULT_URL = 'https://api.abuseipdb.com/api/v2';
export const ABUSEIPDB_URL_SETTING = 'SOAR_ABUSEIPDB_URL';
/** Reports within the last 90 days count toward the score (AbuseIPDB's own example; its default is 30). */
export const ABUSEIPDB_MAX_AGE_DAYS = 90;

export type AbuseLookup = ProviderLookup<AbuseReport>;

/** When a 429 says the limit frees, epoch ms: Retry-After first, then X-RateLimit-Reset. */
function quotaRetryAt(e: ReturnType<typeof parseAbuseIpdbError>, nowMs: number): number | undefined {
  if (e.retryAfterSeconds !== undefined) return nowMs + e.retryAfterSeconds * 1000;
  if (e.retryAt !== undefined) return e.retryAt * 1000;
  if (e.rateLimit?.resetAt != null) return e.rateLimit.resetAt * 1000;
  return undefined;
}

/** What an AbuseIPDB answer means for `ip` (canonical). Pure. */
export function interpretAbuseIpdbAnswer(ip: string, status: number, bodyText: string, headers: Readonly<Record<string, string>>, nowMs: number): Interpretation<AbuseReport> {
  if (status >= 200 && status <= 299) {
    const body = parseJsonText(bodyText);
    if (body === undefined) {
      return { final: { state: 'error', error: { kind: 'malformed', status, message: `AbuseIPDB HTTP ${status} for ${ip} is not JSON; check ${ABUSEIPDB_URL_SETTING}` } } };
    }
    const parsed = parseAbuseIpdbCheck(body, ip);
    if (parsed.ok) return { final: { state: 'report', report: parsed.value } };
    return { final: { state: 'error', error: { kind: 'malformed', status, message: parsed.error.message } } };
  }
  const pe = parseAbuseIpdbError(status, bodyText, headers);
  const base = { status, message: pe.message, ...(pe.rateLimit !== undefined ? { rateLimit: pe.rateLimit } : {}) };
  switch (pe.kind) {
    case 'quota': {
      const retryAtMs = quotaRetryAt(pe, nowMs);
      const error: LookupError = { ...base, kind: 'quota', ...(retryAtMs !== undefined ? { retryAtMs } : {}) };
      return { final: { state: 'error', error } };
    }
    case 'transient':
      return { retryable: { ...base, kind: 'transient' } };
    // /check has a report for every valid address; a 404 is a wrong endpoint, not "no record".
    case 'not_found':
      return { final: { state: 'error', error: { ...base, kind: 'bad_request' } } };
    case 'auth':
    case 'bad_request':
    case 'unknown':
      return { final: { state: 'error', error: { ...base, kind: pe.kind } } };
  }
}

/** Look `ip` up; `attempts` counts the HTTP requests made (zero when a check before the request failed). */
export async function lookupAbuseIpdb(ip: string, options: ProviderClientOptions): Promise<AbuseLookup> {
  const checked = preflight('AbuseIPDB', 'the abuseipdb_api_key secret (or SOAR_ABUSEIPDB_API_KEY)', ip, options.apiKey);
  if (!checked.ok) return { state: 'error', error: checked.error, attempts: 0, sent: 0 };
  const base = resolveBaseUrl(options.baseUrl, ABUSEIPDB_DEFAULT_URL, ABUSEIPDB_URL_SETTING);
  if (!base.ok) return { state: 'error', error: base.error, attempts: 0, sent: 0 };
  const address = checked.ip;
  const query = new URLSearchParams({ ipAddress: address, maxAgeInDays: String(ABUSEIPDB_MAX_AGE_DAYS) });
  return runLookup<AbuseReport>(
    {
      provider: 'AbuseIPDB',
      url: `${base.url}/check?${query.toString()}`,
      headers: { Key: options.apiKey, Accept: 'application/json' },
      interpret: (response, nowMs) => interpretAbuseIpdbAnswer(address, response.status, response.bodyText, response.headers, nowMs),
    },
    options,
  );
}
