/**
 * Which URLs the app may POST an incident to. The webhook URL comes from a secret or a
 * saved-search parameter, so it is untrusted: only Discord's own webhook endpoints, or a
 * host[:port] the administrator listed in SOAR_WEBHOOK_ALLOWED_HOSTS (DESIGN.md §3), may be
 * named — never an internal service such as a cloud metadata address. Plain http:// is
 * allowed only for listed hosts (tests list their loopback stub).
 *
 * The token in the URL is a credential: no message, log or error ever shows it.
 */
import { fail, ok, Result } from '../result';

export const DISCORD_WEBHOOK_HOSTS: readonly string[] = ['discord.com', 'discordapp.com', 'ptb.discord.com', 'canary.discord.com'];

export interface WebhookTarget {
  /** The full URL, token included: hand it to fetch, never to a log. */
  readonly url: string;
  /** The same URL with the token replaced, for messages. */
  readonly redacted: string;
  /** `host[:port]` as it will be contacted. */
  readonly host: string;
  readonly webhookId: string;
  /** True when the host came from SOAR_WEBHOOK_ALLOWED_HOSTS rather than Discord's list. */
  readonly listedHost: boolean;
}

export interface AllowedHosts {
  /** Lower-case `host:port` entries; a host given without a port allows only its scheme's default port. */
  readonly entries: readonly string[];
  /** Entries that are not host[:port]; the caller logs them as a warning. */
  readonly invalid: readonly string[];
}

export type WebhookTargetErrorKind = 'invalid_webhook_url' | 'webhook_host_refused';

const MAX_URL_CHARS = 2048;
const WEBHOOK_PATH = /^\/api(?:\/v\d{1,2})?\/webhooks\/(\d{1,25})\/([A-Za-z0-9_-]{1,200})\/?$/;
const SNOWFLAKE = /^\d{1,25}$/;
const REDACTED = '[redacted]';

/** Any webhook token in `text` replaced: for log lines and errors that might quote a URL. */
export function redactWebhookText(text: string): string {
  return text.replace(/(\/webhooks\/[^/\s?#]+\/)[^/\s?#]+/gi, `$1${REDACTED}`);
}

function hostPortKey(hostname: string, port: string): string {
  return `${hostname.toLowerCase()}:${port}`;
}

/** Parse SOAR_WEBHOOK_ALLOWED_HOSTS: comma-separated `host[:port]`, IPv6 in brackets. */
export function parseAllowedHosts(text: string | undefined): AllowedHosts {
  const entries: string[] = [];
  const invalid: string[] = [];
  for (const raw of (text ?? '').split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    let url: URL | undefined;
    try {
      url = new URL(`http://${entry}`);
    } catch {
      url = undefined;
    }
    const plain = url !== undefined && url.username === '' && url.password === '' && url.pathname === '/' && url.search === '' && url.hash === ''
      && !entry.includes('/') && !entry.includes('@');
    if (url === undefined || !plain) {
      invalid.push(entry);
      continue;
    }
    // URL drops a port equal to http's default; keep what the administrator wrote.
    const explicitPort = /:(\d{1,5})$/.exec(entry)?.[1];
    entries.push(hostPortKey(url.hostname, explicitPort !== undefined ? String(Number(explicitPort)) : ''));
  }
  return { entries, invalid };
}

function defaultPort(protocol: string): string {
  return protocol === 'https:' ? '443' : '80';
}

function isListed(url: URL, allowed: AllowedHosts): boolean {
  const port = url.port === '' ? defaultPort(url.protocol) : url.port;
  return allowed.entries.some((entry) => {
    const [host, entryPort] = splitEntry(entry);
    if (host !== url.hostname.toLowerCase()) return false;
    return entryPort === '' ? port === defaultPort(url.protocol) : entryPort === port;
  });
}

function splitEntry(entry: string): [string, string] {
  const at = entry.lastIndexOf(':');
  return [entry.slice(0, at), entry.slice(at + 1)];
}

function redactedUrl(url: URL): string {
  return redactWebhookText(`${url.protocol}//${url.host}${url.pathname}${url.search}`);
}

/**
 * Check a webhook URL. Refused: anything not http(s), credentials in the URL, hosts other
 * than Discord's or listed ones, http:// to an unlisted host, a port on a Discord host, a
 * path other than /api[/vN]/webhooks/<id>/<token>, query parameters other than thread_id,
 * fragments.
 */
export function parseWebhookTarget(text: string, allowed: AllowedHosts = { entries: [], invalid: [] }): Result<WebhookTarget, WebhookTargetErrorKind> {
  const trimmed = text.trim();
  if (trimmed === '') return fail('invalid_webhook_url', 'the Discord webhook URL is empty: set discord_webhook_url (storage/passwords) or SOAR_DISCORD_WEBHOOK_URL');
  if (trimmed.length > MAX_URL_CHARS) return fail('invalid_webhook_url', `the Discord webhook URL is longer than ${MAX_URL_CHARS} characters`);
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    // Not echoed: a malformed URL may still hold the token.
    return fail('invalid_webhook_url', 'the Discord webhook URL is not a valid URL (expected https://discord.com/api/webhooks/<id>/<token>)');
  }
  const shown = redactedUrl(url);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return fail('invalid_webhook_url', `the webhook URL ${shown} uses ${url.protocol.replace(/:$/, '')}; only https is allowed`);
  }
  if (url.username !== '' || url.password !== '') {
    return fail('webhook_host_refused', `the webhook URL for host ${url.host} carries user credentials before the host; refused (a classic way to disguise the real host)`);
  }
  const hostname = url.hostname.toLowerCase();
  const listed = isListed(url, allowed);
  const discordHost = DISCORD_WEBHOOK_HOSTS.includes(hostname);
  if (!listed) {
    if (!discordHost) {
      return fail(
        'webhook_host_refused',
        `the webhook URL ${shown} names host ${url.host}, which is not a Discord webhook host (${DISCORD_WEBHOOK_HOSTS.join(', ')}) nor listed in SOAR_WEBHOOK_ALLOWED_HOSTS`,
      );
    }
    if (url.protocol !== 'https:') {
      return fail('webhook_host_refused', `the webhook URL ${shown} uses plain http; Discord webhooks need https (http is allowed only for hosts listed in SOAR_WEBHOOK_ALLOWED_HOSTS)`);
    }
    if (url.port !== '') {
      return fail('webhook_host_refused', `the webhook URL ${shown} names port ${url.port}; Discord is reached on 443 only (list host:port in SOAR_WEBHOOK_ALLOWED_HOSTS to allow it)`);
    }
  }
  const path = WEBHOOK_PATH.exec(url.pathname);
  if (path === null) {
    return fail('invalid_webhook_url', `the webhook URL ${shown} does not have the path /api/webhooks/<id>/<token>`);
  }
  if (url.hash !== '') return fail('invalid_webhook_url', `the webhook URL ${shown} has a #fragment; remove it`);
  for (const [name, value] of url.searchParams) {
    if (name !== 'thread_id' || !SNOWFLAKE.test(value)) {
      return fail('invalid_webhook_url', `the webhook URL ${shown} has a query parameter other than thread_id=<id>; remove it`);
    }
  }
  return ok({
    url: url.href,
    redacted: shown,
    host: url.host,
    webhookId: path[1],
    listedHost: listed,
  });
}

/** The URL to POST to: Discord answers with the created message (and its id) only with wait=true. */
export function executeWebhookUrl(target: WebhookTarget): string {
  const url = new URL(target.url);
  url.searchParams.set('wait', 'true');
  return url.href;
}
