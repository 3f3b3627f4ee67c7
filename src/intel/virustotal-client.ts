/**
 * VirusTotal API v3 `GET {base}/ip_addresses/{ip}` with the `x-apikey` header.
 * Quota answers are not retried here: every retry would spend another slot of a 4/min
 * budget; the caller penalizes the shared limiter and defers the address instead.
 */
import { retryAfterAt } from './http-request';
import { Interpretation, LookupError, preflight, ProviderClientOptions, ProviderLookup, resolveBaseUrl, runLookup } from './provider-lookup';
import { parseJsonText } from './provider-error';
import type { Result } from '../result';
import { parseVirusTotalError, parseVirusTotalIp, VtIpReport } from './virustotal-report';

export const VIRUSTOTAL_DEFAULT_URL = 'https://www.virustotal.com/api/v3';
export const VIRUSTOTAL_URL_SETTING = 'SOAR_VIRUSTOTAL_URL';

export type VtLookup = ProviderLookup<VtIpReport>;

/** What a VirusTotal answer means for `ip` (canonical). Pure. */
export function interpretVirusTotalAnswer(ip: string, status: number, bodyText: string, headers: Readonly<Record<string, string>>, nowMs: number): Interpretation<VtIpReport> {
  return interpretVirusTotalResponse(ip, status, bodyText, headers, nowMs, (body) => parseVirusTotalIp(body, ip));
}

/**
 * What a VirusTotal answer about `subject` (an address, a domain, a file hash) means, with
 * `parse` reading a 2xx body into the report. Every object endpoint shares the error
 * format and its meanings. Pure.
 */
export function interpretVirusTotalResponse<R>(
  subject: string,
  status: number,
  bodyText: string,
  headers: Readonly<Record<string, string>>,
  nowMs: number,
  parse: (body: unknown) => Result<R>,
): Interpretation<R> {
  if (status >= 200 && status <= 299) {
    const body = parseJsonText(bodyText);
    if (body === undefined) {
      return { final: { state: 'error', error: { kind: 'malformed', status, message: `VirusTotal HTTP ${status} for ${subject} is not JSON; check ${VIRUSTOTAL_URL_SETTING}` } } };
    }
    const parsed = parse(body);
    if (parsed.ok) return { final: { state: 'report', report: parsed.value } };
    return { final: { state: 'error', error: { kind: 'malformed', status, message: parsed.error.message } } };
  }
  const pe = parseVirusTotalError(status, bodyText);
  const base = { status, message: pe.message, ...(pe.code !== undefined ? { code: pe.code } : {}) };
  switch (pe.kind) {
    case 'not_found':
      // Only VirusTotal's own NotFoundError means "no record": a bare 404 (an HTML page from a
      // wrong base URL) cached as not_found would hide every address for a day.
      if (pe.code === 'NotFoundError') return { final: { state: 'not_found' } };
      return { final: { state: 'error', error: { ...base, kind: 'bad_request', message: `${pe.message}; a 404 without NotFoundError usually means a wrong ${VIRUSTOTAL_URL_SETTING}` } } };
    case 'quota': {
      const retryAtMs = retryAfterAt(headers, nowMs);
      const error: LookupError = { ...base, kind: 'quota', ...(retryAtMs !== undefined ? { retryAtMs } : {}) };
      return { final: { state: 'error', error } };
    }
    case 'transient':
      return { retryable: { ...base, kind: 'transient' } };
    case 'auth':
    case 'bad_request':
    case 'unknown':
      return { final: { state: 'error', error: { ...base, kind: pe.kind } } };
  }
}

/**
 * Look `ip` up. The result counts the HTTP requests made (`attempts`); zero when a check
 * before the request failed (invalid address, missing key, bad base URL, deadline passed).
 */
export async function lookupVirusTotalIp(ip: string, options: ProviderClientOptions): Promise<VtLookup> {
  const checked = preflight('VirusTotal', 'the virustotal_api_key secret (or SOAR_VIRUSTOTAL_API_KEY)', ip, options.apiKey);
  if (!checked.ok) return { state: 'error', error: checked.error, attempts: 0, sent: 0 };
  const base = resolveBaseUrl(options.baseUrl, VIRUSTOTAL_DEFAULT_URL, VIRUSTOTAL_URL_SETTING);
  if (!base.ok) return { state: 'error', error: base.error, attempts: 0, sent: 0 };
  const address = checked.ip;
  return runLookup<VtIpReport>(
    {
      provider: 'VirusTotal',
      // ':' is allowed in a path segment (RFC 3986 pchar), so an IPv6 address goes in as is.
      url: `${base.url}/ip_addresses/${address}`,
      headers: { 'x-apikey': options.apiKey, accept: 'application/json' },
      interpret: (response, nowMs) => interpretVirusTotalAnswer(address, response.status, response.bodyText, response.headers, nowMs),
    },
    options,
  );
}
