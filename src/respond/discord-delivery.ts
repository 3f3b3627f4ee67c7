/**
 * One attempt-bounded POST of a webhook message to Discord, inside the caller's deadline.
 *
 *   2xx                 → delivered (message id from the ?wait=true body; 204 has none)
 *   429                 → wait retry_after (body) / X-RateLimit-Reset-After / Retry-After and
 *                         retry if that still fits before the deadline, else deferred
 *   401 / 403 / 404     → rejected, webhook: the webhook is gone or not ours; never retried
 *                         (Discord bans clients that keep hitting 401/403/404)
 *   400 / 413 / 422     → rejected, payload: retrying the same body cannot succeed
 *   408, 5xx, network,
 *   timeout             → retried with capped exponential backoff and full jitter while the
 *                         deadline allows, then failed (the caller keeps it in the outbox)
 *
 * The payload is checked against Discord's limits before anything is sent. Reasons never
 * contain the webhook token (they quote only redacted URLs and Discord's own messages).
 */
import { discordMessageViolations, WebhookPayload } from './discord-embed';
import { capLength, safeText } from './safe-text';
import { executeWebhookUrl, redactWebhookText, WebhookTarget } from './webhook-target';

/** What we need of a fetch Response; Node's built-in fetch satisfies it. */
export interface FetchResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

export type FetchFunction = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string; signal: AbortSignal },
) => Promise<FetchResponse>;

export interface DeliveryOptions {
  /** Epoch ms by which delivery must be over, success or not. */
  readonly deadlineMs: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** In [0, 1): jitter for the backoff. */
  readonly random?: () => number;
  /** Per request; default 10 s (cut to what is left of the deadline). */
  readonly requestTimeoutMs?: number;
  /** Requests in total, 429 retries included; default 4. */
  readonly maxAttempts?: number;
  /** Backoff before retry n (1-based) is random·min(max, base·2^(n-1)); defaults 500 ms, 8 s. */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** A 429 asking for a longer wait than this is deferred even if the deadline allows it; default 60 s. */
  readonly maxRateLimitWaitMs?: number;
  /** Shortest time worth starting a request with; default 250 ms. */
  readonly minRequestMs?: number;
  readonly userAgent?: string;
}

export type RejectedCause = 'webhook' | 'payload';

export type DeliveryOutcome =
  | { readonly status: 'delivered'; readonly messageId: string | null; readonly httpStatus: number; readonly attempts: number }
  | { readonly status: 'deferred'; readonly retryAtMs: number; readonly reason: string; readonly attempts: number }
  | {
      readonly status: 'rejected';
      readonly cause: RejectedCause;
      readonly reason: string;
      readonly httpStatus: number | null;
      readonly discordCode: number | null;
      readonly attempts: number;
    }
  | { readonly status: 'failed'; readonly reason: string; readonly httpStatus: number | null; readonly attempts: number };

export type DeliverFunction = (payload: unknown, deadlineMs: number) => Promise<DeliveryOutcome>;

const MAX_BODY_CHARS = 64 * 1024;
const MAX_REASON_CHARS = 400;

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function reasonText(text: string): string {
  return capLength(safeText(redactWebhookText(text)), MAX_REASON_CHARS);
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function positiveSeconds(value: unknown): number | null {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : null;
}

/**
 * How long Discord asks us to wait, in ms: the body's retry_after (float seconds), else
 * X-RateLimit-Reset-After, else Retry-After (seconds or an HTTP date); null when none says.
 */
export function rateLimitWaitMs(body: Record<string, unknown> | null, headers: FetchResponse['headers'], nowMs: number): number | null {
  const seconds = positiveSeconds(body?.retry_after) ?? positiveSeconds(headers.get('x-ratelimit-reset-after')) ?? positiveSeconds(headers.get('retry-after'));
  if (seconds !== null) return Math.ceil(seconds * 1000);
  const date = headers.get('retry-after');
  const at = date === null ? NaN : Date.parse(date);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : null;
}

function discordError(body: Record<string, unknown> | null, status: number): { code: number | null; text: string } {
  const code = typeof body?.code === 'number' ? body.code : null;
  const message = typeof body?.message === 'string' ? body.message : `HTTP ${status}`;
  return { code, text: code === null ? message : `${message} (code ${code})` };
}

function errorText(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError') return 'request timed out';
  const cause = err?.cause?.code ?? err?.cause?.message;
  return cause ? `${err.message} (${cause})` : String(err?.message ?? e);
}

/** Send `payload` to the webhook; never throws. */
export async function deliverDiscordMessage(
  target: WebhookTarget,
  payload: unknown,
  fetchFn: FetchFunction,
  options: DeliveryOptions,
): Promise<DeliveryOutcome> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const maxAttempts = Math.max(1, options.maxAttempts ?? 4);
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const backoffBaseMs = options.backoffBaseMs ?? 500;
  const backoffMaxMs = options.backoffMaxMs ?? 8_000;
  const maxRateLimitWaitMs = options.maxRateLimitWaitMs ?? 60_000;
  const minRequestMs = options.minRequestMs ?? 250;
  const { deadlineMs } = options;

  const violations = discordMessageViolations((payload ?? {}) as WebhookPayload);
  if (violations.length > 0) {
    return { status: 'rejected', cause: 'payload', reason: reasonText(`not sent, Discord would refuse it: ${violations.join('; ')}`), httpStatus: null, discordCode: null, attempts: 0 };
  }
  const body = JSON.stringify(payload);
  const url = executeWebhookUrl(target);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': options.userAgent ?? 'soar-edr',
  };

  let attempts = 0;
  let lastFailure = 'deadline reached before the first attempt';
  let lastStatus: number | null = null;
  while (attempts < maxAttempts) {
    const left = deadlineMs - now();
    if (left < minRequestMs) break;
    attempts += 1;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.min(requestTimeoutMs, left));
    let status: number;
    let json: Record<string, unknown> | null;
    let responseHeaders: FetchResponse['headers'];
    try {
      const response = await fetchFn(url, { method: 'POST', headers, body, signal: controller.signal });
      status = response.status;
      responseHeaders = response.headers;
      json = parseJson((await response.text()).slice(0, MAX_BODY_CHARS));
    } catch (e) {
      lastFailure = `${target.redacted}: ${errorText(e)}`;
      lastStatus = null;
      const waited = await backoff(attempts);
      if (!waited) break;
      continue;
    } finally {
      clearTimeout(timer);
    }

    if (status >= 200 && status < 300) {
      const id = typeof json?.id === 'string' ? json.id : null;
      return { status: 'delivered', messageId: id, httpStatus: status, attempts };
    }
    const error = discordError(json, status);
    lastStatus = status;
    if (status === 429) {
      const waitMs = rateLimitWaitMs(json, responseHeaders, now()) ?? backoffBaseMs;
      const retryAtMs = now() + waitMs;
      const scope = json?.global === true ? 'global' : 'route';
      if (waitMs > maxRateLimitWaitMs || retryAtMs + minRequestMs > deadlineMs || attempts >= maxAttempts) {
        return { status: 'deferred', retryAtMs, reason: reasonText(`rate limited by Discord (${scope}); retry after ${waitMs} ms`), attempts };
      }
      await sleep(waitMs);
      continue;
    }
    if (status === 401 || status === 403 || status === 404) {
      return {
        status: 'rejected',
        cause: 'webhook',
        reason: reasonText(`Discord refused the webhook ${target.redacted}: HTTP ${status} ${error.text}; check discord_webhook_url (deleted or mistyped webhook)`),
        httpStatus: status,
        discordCode: error.code,
        attempts,
      };
    }
    if (status === 408 || status >= 500) {
      lastFailure = `Discord answered HTTP ${status} ${error.text}`;
      const waited = await backoff(attempts);
      if (!waited) break;
      continue;
    }
    const cause: RejectedCause = status === 400 || status === 413 || status === 422 ? 'payload' : 'webhook';
    const local = discordMessageViolations(payload as WebhookPayload);
    return {
      status: 'rejected',
      cause,
      reason: reasonText(`Discord refused the message: HTTP ${status} ${error.text}${local.length > 0 ? `; ${local.join('; ')}` : ''}${detailText(json)}`),
      httpStatus: status,
      discordCode: error.code,
      attempts,
    };
  }
  return { status: 'failed', reason: reasonText(`${lastFailure} after ${attempts} attempt(s)`), httpStatus: lastStatus, attempts };

  /** Wait before retry `attempt + 1`; false when there is no time (or attempts) left for it. */
  async function backoff(attempt: number): Promise<boolean> {
    if (attempt >= maxAttempts) return false;
    const delay = Math.floor(random() * Math.min(backoffMaxMs, backoffBaseMs * 2 ** (attempt - 1)));
    if (now() + delay + minRequestMs > deadlineMs) return false;
    await sleep(delay);
    return true;
  }
}

/** Discord's 50035 body names the offending fields under `errors`; show their paths. */
function detailText(body: Record<string, unknown> | null): string {
  const errors = body?.errors;
  if (errors === null || typeof errors !== 'object') return '';
  const paths: string[] = [];
  const walk = (node: unknown, at: string): void => {
    if (paths.length >= 5 || node === null || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if (Array.isArray(record._errors)) {
      const first = record._errors[0] as { message?: unknown } | undefined;
      paths.push(`${at || '(body)'}: ${typeof first?.message === 'string' ? first.message : 'invalid'}`);
      return;
    }
    for (const [key, child] of Object.entries(record)) walk(child, at === '' ? key : `${at}.${key}`);
  };
  walk(errors, '');
  return paths.length > 0 ? ` [${paths.join('; ')}]` : '';
}

/** A DeliverFunction bound to one webhook, for the outbox. */
export function webhookDeliverer(target: WebhookTarget, fetchFn: FetchFunction, options: Omit<DeliveryOptions, 'deadlineMs'> = {}): DeliverFunction {
  return (payload, deadlineMs) => deliverDiscordMessage(target, payload, fetchFn, { ...options, deadlineMs });
}
