/**
 * Secrets (API keys, the Discord webhook URL) live in Splunk's encrypted credential store,
 * storage/passwords, in realm `soar_edr` (DESIGN.md §2) — never in params, which Splunk
 * stores in plain text in savedsearches.conf and passes around in every payload. The SOAR_*
 * environment variables are the fallback for runs outside Splunk.
 */
import type { Agent } from 'node:http';
import type { LookupFunction } from 'node:net';
import type { Failure } from '../result';
import { nodeRequest } from '../net/node-request';
import { certificateFailureMessage, certificateReason, DEFAULT_SPLUNK_HOME, splunkdTlsOptions, SplunkTrust, splunkHomeFrom, TlsConnectOptions } from '../net/tls-trust';
import { fail, ok, Result } from '../result';

export const SECRET_REALM = 'soar_edr';
export const SECRET_APP = 'soar_edr';
export const SECRET_NAMES = ['virustotal_api_key', 'abuseipdb_api_key', 'discord_webhook_url'] as const;
export type SecretName = (typeof SECRET_NAMES)[number];

export const SECRET_ENV: Readonly<Record<SecretName, string>> = {
  virustotal_api_key: 'SOAR_VIRUSTOTAL_API_KEY',
  abuseipdb_api_key: 'SOAR_ABUSEIPDB_API_KEY',
  discord_webhook_url: 'SOAR_DISCORD_WEBHOOK_URL',
};

export type Secrets = Partial<Record<SecretName, string>>;
export type SecretOrigin = 'storage/passwords' | 'environment';

export interface ResolvedSecrets {
  readonly values: Secrets;
  readonly origin: Partial<Record<SecretName, SecretOrigin>>;
}

export function isSecretName(name: string): name is SecretName {
  return (SECRET_NAMES as readonly string[]).includes(name);
}

/** One storage/passwords entry as splunkd lists it (entry[].content). */
export interface StoredCredential {
  readonly realm?: unknown;
  readonly username?: unknown;
  readonly clear_password?: unknown;
}

/** Pick our secrets out of a storage/passwords listing (other apps' entries ignored). */
export function secretsFromCredentials(entries: readonly StoredCredential[]): Secrets {
  const out: Secrets = {};
  for (const e of entries) {
    if (e.realm !== SECRET_REALM || typeof e.username !== 'string' || !isSecretName(e.username)) continue;
    if (typeof e.clear_password === 'string' && e.clear_password !== '') out[e.username] = e.clear_password;
  }
  return out;
}

export function secretsFromEnv(env: Readonly<Record<string, string | undefined>>): Secrets {
  const out: Secrets = {};
  for (const name of SECRET_NAMES) {
    const v = env[SECRET_ENV[name]]?.trim();
    if (v) out[name] = v;
  }
  return out;
}

/** storage/passwords wins; the environment fills what it lacks. */
export function mergeSecrets(stored: Secrets, env: Secrets): ResolvedSecrets {
  const values: Secrets = {};
  const origin: Partial<Record<SecretName, SecretOrigin>> = {};
  for (const name of SECRET_NAMES) {
    if (stored[name]) {
      values[name] = stored[name];
      origin[name] = 'storage/passwords';
    } else if (env[name]) {
      values[name] = env[name];
      origin[name] = 'environment';
    }
  }
  return { values, origin };
}

const WEBHOOK_URL = /^https?:\/\/[^\s/]*\/api\/(v\d+\/)?webhooks\/\d+\/[\w-]+/i;
const SECRET_PARAM_NAMES = /(api[_-]?key|apikey|token|secret|password|passwd|webhook)/i;

/**
 * A secret pasted into a param would be stored in plain text and shown to anyone who can
 * read the saved search: refuse it, and say where it belongs.
 */
export function secretsInParams(
  configuration: Readonly<Record<string, string>>,
): { readonly param: string; readonly problem: Failure<'secret_in_param'> }[] {
  const found: { param: string; problem: Failure<'secret_in_param'> }[] = [];
  for (const [key, value] of Object.entries(configuration)) {
    if (value.trim() === '') continue;
    const looksLikeWebhook = WEBHOOK_URL.test(value);
    if (!isSecretName(key) && !SECRET_PARAM_NAMES.test(key) && !looksLikeWebhook) continue;
    const target = isSecretName(key) ? key : looksLikeWebhook ? 'discord_webhook_url' : '<name>';
    found.push({
      param: key,
      problem: {
        kind: 'secret_in_param',
        message:
          `param ${key} holds a secret, which Splunk stores in plain text; it was ignored. ` +
          `Remove it from the alert and store it in storage/passwords instead: ` +
          `soar-edr secrets set ${target} (realm ${SECRET_REALM}; names: ${SECRET_NAMES.join(', ')})`,
      },
    });
  }
  return found;
}

// ---------------------------------------------------------------------------------
// The shell: splunkd's REST API through Splunk's official JavaScript SDK.

export interface SplunkConnection {
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  /** Either a session key (alert action) … */
  readonly sessionKey?: string;
  /** … or a user and password (the admin CLI). */
  readonly username?: string;
  readonly password?: string;
  readonly timeoutMs: number;
  /** Which certificate splunkd may present (src/net/tls-trust.ts); STRICT_TRUST when absent. */
  readonly trust?: SplunkTrust;
  /** Name resolution; Node's when absent (tests map a made-up name to a loopback stub). */
  readonly lookup?: LookupFunction;
  /** A connection pool shared with the KV store's requests (net/splunkd-agent.ts); the transport's own when absent. */
  readonly agent?: Agent;
  /** TLS options built already (net/splunkd-agent.ts sharedSplunkdTls); built from `trust` on the first request when absent. */
  readonly tls?: () => TlsConnectOptions;
}

/** `certificate`: splunkd's TLS certificate is not trusted, and nothing was sent. */
export type SplunkRestErrorKind = 'auth' | 'forbidden' | 'unreachable' | 'timeout' | 'bad_response' | 'not_found' | 'certificate';

/** Certificates checked (system CAs, host name, the loopback rule with /opt/splunk's default CA), nothing added. */
export const STRICT_TRUST: SplunkTrust = { insecure: false, caPem: [], serverConfCa: false, splunkHome: DEFAULT_SPLUNK_HOME };

/**
 * What the alert action trusts at the server_uri splunkd gave it: the CLI's rules (system
 * CAs, host name, the loopback rule for splunkd's default CA) plus the CA splunkd itself is
 * configured with, server.conf [sslConfig] sslRootCAPath. Nothing is read until a request.
 */
export function alertActionTrust(env: Readonly<Record<string, string | undefined>>): SplunkTrust {
  return { insecure: false, caPem: [], serverConfCa: true, splunkHome: splunkHomeFrom(env) };
}

export function connectionFromServerUri(serverUri: string, sessionKey: string, timeoutMs: number, trust: SplunkTrust = STRICT_TRUST): Result<SplunkConnection, 'bad_response'> {
  let url: URL;
  try {
    url = new URL(serverUri);
  } catch {
    return fail('bad_response', `server_uri ${JSON.stringify(serverUri)} is not a URL`);
  }
  const scheme = url.protocol === 'http:' ? 'http' : 'https';
  const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80;
  return ok({ scheme, host: url.hostname, port, sessionKey, timeoutMs, trust });
}

/** What we use of splunk-sdk's Service; the SDK ships no type declarations. */
interface SdkService {
  login(): Promise<unknown>;
  /** Set by login(). */
  readonly sessionKey?: string | null;
  storagePasswords(ns: { owner: string; app: string }): SdkCollection;
}
interface SdkEntity {
  name: string;
  properties(): Record<string, unknown>;
  update(props: Record<string, string>, timeout?: number): Promise<unknown>;
  remove(timeout?: number): Promise<unknown>;
}
interface SdkCollection {
  fetch(options: Record<string, string | number>, timeout?: number): Promise<SdkCollection>;
  list(): SdkEntity[];
  create(params: Record<string, string>, timeout?: number): Promise<SdkEntity>;
}
type SdkServiceClass = new (http: object, params: Record<string, unknown>) => SdkService;

/** The SDK's Http base class: subclasses provide makeRequest (jQuery-style `extend`). */
interface SdkHttpClass {
  extend(methods: Record<string, unknown>): new () => object;
}

interface SdkResponseBuilder {
  _buildResponse(error: unknown, response: { headers: Record<string, unknown>; statusCode: number | string }, data: unknown): unknown;
}

/**
 * Loaded on first use only: most runs resolve secrets once, and the SDK is by far the
 * largest piece of code we ship (bundled separately as bin/vendor/splunk-sdk.cjs; the build
 * maps this path to it, tests load it from build/).
 */
function loadSdk(): { Service: SdkServiceClass; Http: SdkHttpClass } {
  // The SDK prints splunkd's messages to the console unless told otherwise; our stdout
  // stays empty and stderr carries only our own level-prefixed lines.
  process.env.LOG_LEVEL = '0';
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('../../../build/vendor-splunk-sdk.cjs') as { Service: SdkServiceClass; Http: SdkHttpClass };
}

/** What the SDK's own transport reports when no answer came (status 600). */
const NO_ANSWER = { headers: {}, statusCode: 600 };

/** The code of the error nodeTransport rejects with when splunkd's certificate is not trusted. */
const CERTIFICATE_ERROR = 'ERR_SPLUNKD_CERTIFICATE';

/**
 * The SDK's Service and collections over Node's own http/https instead of the SDK's default
 * transport (needle): same requests, but a storage/passwords read no longer loads needle and
 * its dependencies in every alert process. splunkd's certificate is checked by the rules of
 * src/net/tls-trust.ts; the CA files are read on the first request, and the connection pool
 * is this transport's own, so no socket checked under other rules is reused.
 */
function nodeTransport(Http: SdkHttpClass, conn: SplunkConnection): object {
  const bare = conn.host.replace(/^\[|\]$/g, '');
  const target = `${bare.includes(':') ? `[${bare}]` : bare}:${conn.port}`;
  const trust = conn.trust ?? STRICT_TRUST;
  let tls: TlsConnectOptions | undefined;
  let agent: Agent | undefined;
  const Transport = Http.extend({
    makeRequest(this: SdkResponseBuilder, url: string, message: { method: string; headers?: Record<string, string>; body?: string; timeout?: number; response_timeout?: number }) {
      const timeoutMs = message.response_timeout || message.timeout || undefined;
      if (conn.scheme === 'https') {
        tls ??= conn.tls?.() ?? splunkdTlsOptions(conn.host, trust, readUtf8);
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        agent ??= conn.agent ?? new (require('node:https') as typeof import('node:https')).Agent({ keepAlive: true });
      } else {
        agent ??= conn.agent;
      }
      return nodeRequest(url, {
        method: message.method,
        headers: { ...(message.headers ?? {}), 'User-Agent': 'soar-edr (splunk-sdk-javascript)' },
        body: message.body ?? '',
        timeoutMs,
        ...(tls ? { tls } : {}),
        ...(agent ? { agent } : {}),
        ...(conn.lookup ? { lookup: conn.lookup } : {}),
      }).then(
        (res) => this._buildResponse(null, { headers: res.headers as Record<string, unknown>, statusCode: res.status }, res.text),
        (e: NodeJS.ErrnoException) => {
          // The SDK's own transport reports a timeout as status "abort".
          if (e.code === 'ETIMEDOUT') return Promise.reject(this._buildResponse('abort', { headers: {}, statusCode: 'abort' }, {}));
          const reason = certificateReason(e.code);
          const err = reason === undefined ? e : Object.assign(new Error(certificateFailureMessage(target, reason, trust.serverConfCa)), { code: CERTIFICATE_ERROR });
          return Promise.reject(this._buildResponse(err, NO_ANSWER, '{}'));
        },
      );
    },
    parseJson(text: string) {
      return JSON.parse(text);
    },
  });
  return new Transport();
}

function readUtf8(file: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('node:fs') as typeof import('node:fs')).readFileSync(file, 'utf8');
}

function makeService(conn: SplunkConnection): SdkService {
  const { Service, Http } = loadSdk();
  return new Service(nodeTransport(Http, conn), {
    scheme: conn.scheme,
    host: conn.host.includes(':') && !conn.host.startsWith('[') ? `[${conn.host}]` : conn.host,
    port: conn.port,
    sessionKey: conn.sessionKey,
    username: conn.username,
    password: conn.password,
    owner: 'nobody',
    app: SECRET_APP,
    autologin: conn.sessionKey ? false : true,
    version: 'default',
    timeout: conn.timeoutMs,
  });
}

/** Translate the SDK's rejection (a response object, an Error, or [err, entity]) into a Failure. */
export function restFailure(err: unknown, what: string): Failure<SplunkRestErrorKind> {
  const e = Array.isArray(err) ? err[0] : err;
  const status = typeof e === 'object' && e !== null && 'status' in e ? (e as { status: unknown }).status : undefined;
  const inner = typeof e === 'object' && e !== null ? (e as { error?: unknown }).error : undefined;
  if (inner instanceof Error && (inner as NodeJS.ErrnoException).code === CERTIFICATE_ERROR) return { kind: 'certificate', message: inner.message };
  const detail = restMessage(e);
  if (status === 401) return { kind: 'auth', message: `splunkd rejected the credentials for ${what} (401${detail})` };
  if (status === 403) return { kind: 'forbidden', message: `splunkd refused ${what} (403${detail}): the user needs the list_storage_passwords capability (edit_storage_passwords to change secrets)` };
  if (status === 404) return { kind: 'not_found', message: `splunkd has no ${what} (404${detail})` };
  if (status === 'abort') return { kind: 'timeout', message: `splunkd did not answer ${what} in time` };
  if (typeof status === 'number' && status >= 400 && status < 600) return { kind: 'bad_response', message: `splunkd answered ${what} with HTTP ${status}${detail}` };
  return { kind: 'unreachable', message: `cannot reach splunkd for ${what}${detail || (e instanceof Error ? `: ${e.message}` : '')}` };
}

function restMessage(e: unknown): string {
  if (typeof e !== 'object' || e === null) return '';
  const data = (e as { data?: unknown }).data;
  const messages = typeof data === 'object' && data !== null ? (data as { messages?: unknown }).messages : undefined;
  if (Array.isArray(messages) && messages.length > 0 && typeof messages[0]?.text === 'string') return `: ${messages[0].text}`;
  const inner = (e as { error?: unknown }).error;
  if (inner instanceof Error) return `: ${inner.message}`;
  if (typeof inner === 'object' && inner !== null && 'code' in inner) return `: ${String((inner as { code: unknown }).code)}`;
  return '';
}

async function listCredentials(service: SdkService, timeoutMs: number): Promise<SdkEntity[]> {
  const collection = service.storagePasswords({ owner: 'nobody', app: SECRET_APP });
  await collection.fetch({ count: 0, search: `realm=${SECRET_REALM}` }, timeoutMs);
  return collection.list();
}

/** Read our secrets from storage/passwords (one request). */
export async function fetchStoredSecrets(conn: SplunkConnection): Promise<Result<Secrets, SplunkRestErrorKind>> {
  try {
    const service = makeService(conn);
    if (!conn.sessionKey) await service.login();
    const entities = await listCredentials(service, conn.timeoutMs);
    return ok(secretsFromCredentials(entities.map((e) => e.properties() as StoredCredential)));
  } catch (err) {
    const f = restFailure(err, 'storage/passwords');
    return fail(f.kind, f.message);
  }
}


/** Names (never values) of our secrets present in storage/passwords. */
export async function listStoredSecrets(conn: SplunkConnection): Promise<Result<SecretName[], SplunkRestErrorKind>> {
  const r = await fetchStoredSecrets(conn);
  if (!r.ok) return r;
  return ok(SECRET_NAMES.filter((n) => r.value[n] !== undefined));
}

/** Create or update one secret in realm soar_edr, app soar_edr. */
export async function storeSecret(conn: SplunkConnection, name: SecretName, value: string): Promise<Result<'created' | 'updated', SplunkRestErrorKind>> {
  try {
    const service = makeService(conn);
    if (!conn.sessionKey) await service.login();
    const existing = (await listCredentials(service, conn.timeoutMs)).find((e) => e.name === `${SECRET_REALM}:${name}:`);
    if (existing) {
      await existing.update({ password: value }, conn.timeoutMs);
      return ok('updated');
    }
    const collection = service.storagePasswords({ owner: 'nobody', app: SECRET_APP });
    await collection.create({ name, realm: SECRET_REALM, password: value }, conn.timeoutMs);
    return ok('created');
  } catch (err) {
    const f = restFailure(err, `storage/passwords (${name})`);
    return fail(f.kind, f.message);
  }
}
