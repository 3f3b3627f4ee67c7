/**
 * One HTTP GET to a reputation provider, and the pure retry policy around it.
 *
 * The network is a parameter (`fetch`, default Node's built-in), so tests run the real
 * code against loopback stubs. A failure without an HTTP answer is a value with a kind the
 * caller can act on; its message never carries the API key (undici puts an invalid header
 * value verbatim into its error text, so every message is scrubbed of the given secrets).
 */
import * as diagnostics from 'node:diagnostics_channel';
import type { Failure } from '../result';
import { oneLine } from './provider-error';

export type FetchFn = typeof globalThis.fetch;

export interface HttpResponse {
  readonly status: number;
  /** Lower-case names; repeated headers joined with ", " as fetch does. */
  readonly headers: Readonly<Record<string, string>>;
  readonly bodyText: string;
}

/**
 * timeout: no complete answer within the per-request time (headers or body).
 * connection: could not connect (refused, DNS, TLS, unreachable, blocked port).
 * reset: the peer closed the connection before the answer was complete.
 * oversize: the body exceeded `maxBodyBytes` (not a provider answer we can use).
 */
export type NetworkFailureKind = 'timeout' | 'connection' | 'reset' | 'oversize';

/**
 * Whether the request had left when the failure came: 'yes' once its headers were written
 * to an open connection (the provider may have read it, and counted it); 'no' when no
 * connection ever carried it (refused, DNS, TLS handshake, connect timeout, reset while
 * connecting); 'unknown' when the fetch in use does not say (not Node's own undici).
 */
export type RequestSent = 'yes' | 'no' | 'unknown';

export interface NetworkFailure extends Failure<NetworkFailureKind> {
  readonly sent: RequestSent;
}

export type HttpGetResult = { readonly ok: true; readonly value: HttpResponse } | { readonly ok: false; readonly error: NetworkFailure };

/**
 * Whether a failed request may have cost a request at the provider: yes once it was
 * written; when that is unknown, anything but a failure to connect may have.
 */
export function mayHaveReachedProvider(failure: NetworkFailure): boolean {
  if (failure.sent !== 'unknown') return failure.sent === 'yes';
  return failure.kind !== 'connection';
}

export interface HttpGetOptions {
  readonly fetch?: FetchFn;
  readonly headers?: Readonly<Record<string, string>>;
  /** Abort the request (connect, headers and body) after this long. */
  readonly timeoutMs: number;
  /** Strings that must never appear in a failure message (API keys). */
  readonly secrets?: readonly string[];
  /** Default 4 MiB: a VirusTotal IP report is tens of KB; an endless body must not exhaust memory. */
  readonly maxBodyBytes?: number;
}

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

const CONNECT_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL',
  'UND_ERR_CONNECT', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ECONNABORTED', 'UND_ERR_CLOSED']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Replace every occurrence of each secret (longest first, so a key containing another is fully hidden). */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of [...secrets].filter((x) => x.length > 0).sort((a, b) => b.length - a.length)) {
    out = out.split(s).join('[redacted]');
  }
  return out;
}

/** The URL without query string, for messages (a query could carry user data; never a key here). */
function shownUrl(url: string): string {
  const q = url.indexOf('?');
  return q >= 0 ? url.slice(0, q) : url;
}

interface ErrorChainLink {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly cause?: unknown;
}

/** The first errno/undici code and the innermost message along the cause chain. */
function describeCause(error: unknown): { code: string | undefined; detail: string } {
  let code: string | undefined;
  let detail = error instanceof Error ? error.message : String(error);
  let link: unknown = error;
  for (let depth = 0; depth < 5 && typeof link === 'object' && link !== null; depth++) {
    const l = link as ErrorChainLink;
    if (code === undefined && typeof l.code === 'string') code = l.code;
    if (typeof l.message === 'string' && l.message !== '') detail = l.message;
    link = l.cause;
  }
  return { code, detail };
}

function classifyNetworkError(error: unknown): NetworkFailureKind {
  const { code, detail } = describeCause(error);
  if (code !== undefined) {
    if (TIMEOUT_CODES.has(code)) return 'timeout';
    if (RESET_CODES.has(code)) return 'reset';
    if (CONNECT_CODES.has(code)) return 'connection';
  }
  // undici's body stream ends with "terminated" / "other side closed" when the peer hangs up.
  if (/other side closed|terminated|socket hang up/i.test(detail)) return 'reset';
  return 'connection';
}

async function readBodyText(response: Response, maxBytes: number): Promise<string | undefined> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/** undici's diagnostics channels (Node's fetch): a request is created, then its headers are written to a socket. */
const REQUEST_CREATED = 'undici:request:create';
const HEADERS_WRITTEN = 'undici:client:sendHeaders';

interface UndiciRequestMessage {
  readonly request?: { readonly origin?: unknown; readonly path?: unknown };
}

/**
 * Watch undici's diagnostics channels for the request to `url`: was it written to a
 * connection? The request object is matched by origin and path (two requests for the same
 * URL at once in one process both count as written when either was: the safe side).
 */
function watchSending(url: string): { sent(): RequestSent; stop(): void } {
  const unknown = { sent: (): RequestSent => 'unknown', stop: () => undefined };
  // subscribe/unsubscribe by name came with Node 18.7.
  if (typeof diagnostics.subscribe !== 'function') return unknown;
  let target: string;
  try {
    const u = new URL(url);
    target = `${u.origin}${u.pathname}${u.search}`;
  } catch {
    return unknown;
  }
  const ours = new Set<object>();
  let written = false;
  const onCreated = (message: unknown): void => {
    const request = (message as UndiciRequestMessage).request;
    if (request !== undefined && `${String(request.origin).replace(/\/+$/, '')}${String(request.path)}` === target) ours.add(request);
  };
  const onWritten = (message: unknown): void => {
    const request = (message as UndiciRequestMessage).request;
    if (request !== undefined && ours.has(request)) written = true;
  };
  diagnostics.subscribe(REQUEST_CREATED, onCreated);
  diagnostics.subscribe(HEADERS_WRITTEN, onWritten);
  return {
    sent: () => (ours.size === 0 ? 'unknown' : written ? 'yes' : 'no'),
    stop: () => {
      diagnostics.unsubscribe(REQUEST_CREATED, onCreated);
      diagnostics.unsubscribe(HEADERS_WRITTEN, onWritten);
    },
  };
}

function failed(kind: NetworkFailureKind, message: string, sent: RequestSent): { ok: false; error: NetworkFailure } {
  return { ok: false, error: { kind, message, sent } };
}

/**
 * GET `url`. Any HTTP status is a success here (the provider parsers classify it); only
 * the absence of a complete answer is a failure, which says whether the request had been
 * sent (`sent`: the quota rule in pipeline-enrich.ts reads it).
 */
export async function httpGet(url: string, options: HttpGetOptions): Promise<HttpGetResult> {
  const fetchFn = options.fetch ?? globalThis.fetch;
  const secrets = options.secrets ?? [];
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const timeoutMs = Math.max(1, Math.floor(options.timeoutMs));
  const controller = new AbortController();
  const timedOut = new Error(`no answer within ${timeoutMs} ms`);
  const timer = setTimeout(() => controller.abort(timedOut), timeoutMs);
  const target = shownUrl(url);
  const watch = watchSending(url);
  let answered = false;
  try {
    // 'manual': a redirect is reported as its 3xx status; following it could carry the key
    // header to another host (fetch strips only Authorization on cross-origin redirects).
    const response = await fetchFn(url, { method: 'GET', headers: { ...options.headers }, signal: controller.signal, redirect: 'manual' });
    answered = true;
    const bodyText = await readBodyText(response, maxBodyBytes);
    if (bodyText === undefined) {
      return failed('oversize', `GET ${target}: HTTP ${response.status} body larger than ${maxBodyBytes} bytes; not read`, 'yes');
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name.toLowerCase()] = value;
    });
    return { ok: true, value: { status: response.status, headers, bodyText } };
  } catch (error) {
    // An answer that had begun (a status line came) means the request was sent.
    const sent = answered ? 'yes' : watch.sent();
    if (controller.signal.aborted && controller.signal.reason === timedOut) {
      return failed('timeout', `GET ${target}: ${timedOut.message}`, sent);
    }
    const kind = classifyNetworkError(error);
    const { code, detail } = describeCause(error);
    const text = `GET ${target}: ${kind === 'reset' ? 'connection reset' : kind === 'timeout' ? 'timed out' : 'could not connect'}` +
      ` (${code !== undefined ? `${code}: ` : ''}${detail})`;
    return failed(kind, oneLine(redactSecrets(text, secrets), 300), sent);
  } finally {
    watch.stop();
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------
// Retry policy (pure)

export interface RetryPolicy {
  /** Total attempts including the first; 1 means never retry. */
  readonly maxAttempts: number;
  /** The cap of the first backoff window; window n is base * 2^(n-1), up to maxDelayMs. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** A retry is only worth it when at least this long is left for the request itself. */
  readonly minAttemptMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  maxAttempts: 3,
  baseDelayMs: 500,
  maxDelayMs: 8_000,
  minAttemptMs: 1_000,
});

export type RetryDecision =
  | { readonly retry: true; readonly delayMs: number }
  | { readonly retry: false; readonly reason: 'attempts' | 'deadline' };

/**
 * After attempt `attempt` (1-based) failed in a retryable way: wait `delayMs` and try
 * again, or stop. Exponential backoff with full jitter (AWS architecture blog): the delay
 * is uniform in [0, window), so many processes that failed together do not retry together.
 * `random` is one draw in [0, 1). A retry whose sleep plus `minAttemptMs` would pass the
 * deadline is not made: a run never sleeps past its deadline.
 */
export function retryDecision(policy: RetryPolicy, attempt: number, random: number, nowMs: number, deadlineMs: number): RetryDecision {
  if (attempt >= policy.maxAttempts) return { retry: false, reason: 'attempts' };
  const window = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const r = Number.isFinite(random) ? Math.min(Math.max(random, 0), 1) : 0;
  const delayMs = Math.floor(window * r);
  if (nowMs + delayMs + policy.minAttemptMs > deadlineMs) return { retry: false, reason: 'deadline' };
  return { retry: true, delayMs };
}

/**
 * Retry-After (delta seconds or HTTP-date) as an absolute epoch ms, or undefined when the
 * header is absent or unreadable.
 */
export function retryAfterAt(headers: Readonly<Record<string, string>>, nowMs: number): number | undefined {
  const text = headers['retry-after']?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d{1,10}$/.test(text)) return nowMs + Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isFinite(at) ? at : undefined;
}

/** A value fit for an HTTP header: visible ASCII only (no spaces, no line breaks). */
export function isHeaderSafeToken(value: string): boolean {
  return /^[\x21-\x7e]+$/.test(value);
}
