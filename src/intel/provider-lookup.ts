/**
 * What one provider lookup returns to the pipeline, and the request/retry loop both
 * clients share. The clients only say how to build the request and what a response means.
 */
import type { AbuseIpdbRateLimit } from './abuseipdb-report';
import { parseIpAddress } from '../address/ip-address';
import { DEFAULT_RETRY_POLICY, FetchFn, httpGet, isHeaderSafeToken, HttpResponse, mayHaveReachedProvider, NetworkFailureKind, RetryPolicy, retryDecision } from './http-request';
import type { LookupOutcome } from './verdict';

/**
 * auth: key missing, wrong or not allowed — not retried; report once, upstream.
 * quota: the provider refused for rate or daily limits — not retried here; the caller
 *   penalizes the limiter and defers the address (enrichment queue).
 * transient: server error, timeout or reset — retried with backoff, then given up.
 * bad_request: the provider rejected the request, or the base URL is wrong.
 * malformed: a 2xx whose body is not the report we expect.
 * unknown: a status we do not recognise (e.g. a redirect).
 */
export type LookupErrorKind = 'auth' | 'quota' | 'transient' | 'bad_request' | 'malformed' | 'unknown';

export interface LookupError {
  readonly kind: LookupErrorKind;
  /** One line for logs and reports; never contains the API key. */
  readonly message: string;
  /** The last HTTP status received, when there was an answer. */
  readonly status?: number;
  /** The provider's own error code (VirusTotal `error.code`). */
  readonly code?: string;
  /** Set when the last attempt got no HTTP answer at all. */
  readonly network?: NetworkFailureKind;
  /** quota: when the provider said the limit frees (Retry-After, X-RateLimit-Reset), epoch ms. */
  readonly retryAtMs?: number;
  /** AbuseIPDB's X-RateLimit-* headers, when sent. */
  readonly rateLimit?: AbuseIpdbRateLimit;
}

/**
 * `attempts` counts the HTTP requests tried; `sent` those that may have reached the
 * provider (it answered, or the request was written before the connection failed). A
 * lookup with `sent` 0 cost the provider nothing: its quota slot is given back.
 */
export type ProviderLookup<R> =
  | { readonly state: 'report'; readonly report: R; readonly attempts: number; readonly sent: number }
  | { readonly state: 'not_found'; readonly attempts: number; readonly sent: number }
  | { readonly state: 'error'; readonly error: LookupError; readonly attempts: number; readonly sent: number };

/** The verdict's view of a lookup. */
export function lookupOutcome<R>(lookup: ProviderLookup<R>): LookupOutcome<R> {
  switch (lookup.state) {
    case 'report':
      return lookup.report;
    case 'not_found':
      return { state: 'not_found' };
    case 'error':
      return { state: 'error', message: lookup.error.message };
  }
}

/** Options every client takes; defaults suit one alert process inside Splunk's maxtime. */
export interface ProviderClientOptions {
  /** API base URL (SOAR_VIRUSTOTAL_URL / SOAR_ABUSEIPDB_URL); the provider's default when absent or empty. */
  readonly baseUrl?: string;
  readonly apiKey: string;
  /** Default globalThis.fetch. */
  readonly fetch?: FetchFn;
  /** Per request, default 10 s; shortened to what is left before `deadlineMs`. */
  readonly timeoutMs?: number;
  /** Attempts including the first for transient failures, default 3. */
  readonly maxAttempts?: number;
  /** Backoff shape beyond maxAttempts (DEFAULT_RETRY_POLICY otherwise). */
  readonly retry?: Partial<Omit<RetryPolicy, 'maxAttempts'>>;
  readonly sleep?: (ms: number) => Promise<void>;
  /** A draw in [0, 1) for backoff jitter. */
  readonly random?: () => number;
  /** Epoch ms. */
  readonly now?: () => number;
  /** Hard deadline, epoch ms: no request starts and no backoff sleeps past it. */
  readonly deadlineMs: number;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

export const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** What one HTTP answer means: a final lookup (without attempts), or a failure worth retrying. */
export type Interpretation<R> =
  | { readonly final: { readonly state: 'report'; readonly report: R } | { readonly state: 'not_found' } | { readonly state: 'error'; readonly error: LookupError } }
  | { readonly retryable: LookupError };

export interface LookupRequest<R> {
  readonly provider: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly interpret: (response: HttpResponse, nowMs: number) => Interpretation<R>;
}

function withSuffix(error: LookupError, suffix: string): LookupError {
  return { ...error, message: `${error.message} (${suffix})` };
}

function plural(n: number): string {
  return `${n} attempt${n === 1 ? '' : 's'}`;
}

/**
 * Send the request, retrying retryable failures with the policy, never past the deadline.
 * A failure before the first request (deadline already reached) counts zero attempts.
 */
export async function runLookup<R>(request: LookupRequest<R>, options: ProviderClientOptions): Promise<ProviderLookup<R>> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry, maxAttempts: Math.max(1, options.maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts) };
  let attempts = 0;
  let sent = 0;
  for (;;) {
    const remaining = options.deadlineMs - now();
    if (remaining <= 0) {
      return {
        state: 'error',
        attempts,
        sent,
        error: { kind: 'transient', message: `${request.provider} lookup not attempted: the run's deadline has passed` },
      };
    }
    attempts++;
    const answer = await httpGet(request.url, {
      fetch: options.fetch,
      headers: request.headers,
      timeoutMs: Math.min(timeoutMs, remaining),
      secrets: [options.apiKey],
    });
    if (answer.ok || mayHaveReachedProvider(answer.error)) sent++;
    let failure: LookupError;
    if (answer.ok) {
      const meaning = request.interpret(answer.value, now());
      if ('final' in meaning) return { ...meaning.final, attempts, sent };
      failure = meaning.retryable;
    } else if (answer.error.kind === 'oversize') {
      return { state: 'error', attempts, sent, error: { kind: 'unknown', network: 'oversize', message: `${request.provider}: ${answer.error.message}` } };
    } else {
      const what = answer.error.kind === 'timeout' ? 'timed out' : answer.error.kind === 'reset' ? 'connection reset' : 'connection failed';
      failure = { kind: 'transient', network: answer.error.kind, message: `${request.provider} ${what}: ${answer.error.message}` };
    }
    const decision = retryDecision(policy, attempts, random(), now(), options.deadlineMs);
    if (!decision.retry) {
      const why = decision.reason === 'deadline' ? `gave up after ${plural(attempts)}: no time left before the run's deadline` : `gave up after ${plural(attempts)}`;
      return { state: 'error', attempts, sent, error: withSuffix(failure, why) };
    }
    await sleep(decision.delayMs);
  }
}

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * The API base URL to use: `configured` when set, else the provider's default; without a
 * trailing slash. Plain http is accepted only for loopback hosts (test stubs): anywhere
 * else it would send the API key in clear text.
 */
export function resolveBaseUrl(configured: string | undefined, defaultUrl: string, settingName: string): { ok: true; url: string } | { ok: false; error: LookupError } {
  const text = configured?.trim() || defaultUrl;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, error: { kind: 'bad_request', message: `${settingName} ${JSON.stringify(text.slice(0, 80))} is not a URL; expected e.g. ${defaultUrl}` } };
  }
  const allowed = url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
  if (!allowed || url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    return {
      ok: false,
      error: {
        kind: 'bad_request',
        message: `${settingName} must be an https:// URL without credentials, query or fragment (plain http only for 127.0.0.1/::1/localhost); got ${JSON.stringify(`${url.protocol}//${url.host}${url.pathname}`)}`,
      },
    };
  }
  return { ok: true, url: `${url.origin}${url.pathname.replace(/\/+$/, '')}` };
}

/** Checks made before any request; a problem here costs no quota. */
export function preflight(provider: string, keySetting: string, ip: string, apiKey: string): { ok: true; ip: string } | { ok: false; error: LookupError } {
  const canonical = parseIpAddress(ip);
  if (!canonical.ok) {
    return { ok: false, error: { kind: 'bad_request', message: `${provider}: ${JSON.stringify(ip.slice(0, 60))} is not an IP address; not looked up` } };
  }
  if (apiKey.trim() === '') {
    return { ok: false, error: { kind: 'auth', message: `${provider}: no API key configured; set ${keySetting}` } };
  }
  if (!isHeaderSafeToken(apiKey)) {
    return { ok: false, error: { kind: 'auth', message: `${provider}: the API key contains spaces, line breaks or non-ASCII characters; re-enter ${keySetting}` } };
  }
  return { ok: true, ip: canonical.value.text };
}
