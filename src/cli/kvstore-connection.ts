/**
 * The CLI's way to the shared state: with a splunkd connection (--host, --port, --scheme, --user,
 * --password, or SPLUNK_HOST / SPLUNK_PASSWORD), splunkd's KV store, which every member of a
 * search head cluster sees; without one, this host's data directory (fileState).
 *
 * The KV store's endpoints take a session key, so the CLI logs in first (POST
 * /services/auth/login) with the user and password the connection options give, checking
 * splunkd's certificate by the same rules as every other CLI request (src/net/tls-trust.ts).
 * Neither the password nor the session key is ever written anywhere.
 */
import type { Agent } from 'node:http';
import { readFileSync } from 'node:fs';
import { nodeRequest, NodeRequest, NodeResponse } from '../net/node-request';
import { certificateFailureMessage, certificateReason, splunkdTlsOptions } from '../net/tls-trust';
import { fail, ok, Result } from '../result';
import type { SplunkConnection, SplunkRestErrorKind } from '../splunk/secrets';
import { PipelineDeps, systemPipelineDeps } from '../pipeline/deps';
import { fileState } from '../state/file-state';
import { kvState } from '../state/kv-state';
import type { SharedState } from '../state/shared-state';
import type { DataLayout } from '../store/data-dir';
import { KvErrorKind, kvStoreClient, KvStoreClient, splunkdMessages } from '../store/kvstore-client';
import { CliIO, connectionFrom, ConnectionOptions, REST_EXIT, restExitCode } from './runtime';

/** Where a command's state lives, as its output names it. */
export interface CliSharedState {
  readonly state: SharedState;
  readonly where: 'kvstore' | 'file';
  /** "the KV store at https://host:8089" or "the data directory /path": what a person reads. */
  readonly description: string;
}

/** A state that could not be opened, with the exit code every command gives it. */
export interface CliStateFailure {
  readonly message: string;
  /** 2 usage, 3 credentials refused, 4 splunkd unreachable or its certificate not trusted, 5 other. */
  readonly exitCode: number;
}

/** USAGE 2 plus the REST codes, for the commands' help and docs. */
export const KV_CONNECT_EXIT = { USAGE: 2, ...REST_EXIT } as const;

/** `https://host:port` (an IPv6 address in brackets). */
export function splunkdBaseUrl(conn: Pick<SplunkConnection, 'scheme' | 'host' | 'port'>): string {
  const bare = conn.host.replace(/^\[|\]$/g, '');
  return `${conn.scheme}://${bare.includes(':') ? `[${bare}]` : bare}:${conn.port}`;
}

/** The session key in splunkd's JSON answer to a login, or undefined. */
export function sessionKeyFromLogin(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { sessionKey?: unknown };
    return typeof parsed?.sessionKey === 'string' && parsed.sessionKey !== '' ? parsed.sessionKey : undefined;
  } catch {
    return undefined;
  }
}

function loginMessages(body: string): string {
  const texts = splunkdMessages(body);
  return texts.length > 0 ? `: ${texts.join('; ')}` : '';
}

export type LoginRequest = (url: string, request: NodeRequest) => Promise<NodeResponse>;

/**
 * Log in to splunkd with the connection's user and password; the session key. A connection
 * that already carries a session key is used as it is.
 */
export async function splunkdLogin(conn: SplunkConnection, send: LoginRequest = nodeRequest): Promise<Result<string, SplunkRestErrorKind>> {
  if (conn.sessionKey) return ok(conn.sessionKey);
  const base = splunkdBaseUrl(conn);
  const where = `splunkd at ${base}`;
  const https = conn.scheme === 'https';
  const tls = https && conn.trust ? splunkdTlsOptions(conn.host, conn.trust, (f) => readFileSync(f, 'utf8')) : undefined;
  // A connection of its own, closed after the answer: the CLI process must be free to exit.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const agent: Agent = new ((https ? require('node:https') : require('node:http')) as typeof import('node:https')).Agent({ keepAlive: false });
  const body = new URLSearchParams({ username: conn.username ?? '', password: conn.password ?? '', output_mode: 'json' }).toString();
  let res: NodeResponse;
  try {
    res = await send(`${base}/services/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json', 'User-Agent': 'soar-edr' },
      body,
      timeoutMs: conn.timeoutMs,
      agent,
      ...(tls ? { tls } : {}),
      ...(conn.lookup ? { lookup: conn.lookup } : {}),
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const reason = certificateReason(err.code);
    if (reason !== undefined) return fail('certificate', certificateFailureMessage(base.replace(/^https?:\/\//, ''), reason, false));
    if (err.code === 'ETIMEDOUT') return fail('timeout', `${where} did not answer the login within ${conn.timeoutMs} ms`);
    return fail('unreachable', `cannot reach ${where} to log in (${err.code ?? 'error'}: ${err.message}); check --host, --port and --scheme`);
  } finally {
    agent.destroy();
  }
  if (res.status === 401) return fail('auth', `${where} rejected the credentials of user ${JSON.stringify(conn.username ?? '')} (401${loginMessages(res.text)}): check --user and the password`);
  if (res.status === 403) return fail('forbidden', `${where} refused the login of user ${JSON.stringify(conn.username ?? '')} (403${loginMessages(res.text)})`);
  if (res.status < 200 || res.status > 299) return fail('bad_response', `${where} answered the login with HTTP ${res.status}${loginMessages(res.text)}`);
  const key = sessionKeyFromLogin(res.text);
  return key === undefined ? fail('bad_response', `${where} answered the login without a session key; check that --port is splunkd's management port`) : ok(key);
}

/** The KV store client for a connection: a login, then the client with the same certificate rules. */
export async function kvClientForConnection(conn: SplunkConnection, send?: LoginRequest): Promise<Result<KvStoreClient, SplunkRestErrorKind>> {
  const key = await splunkdLogin(conn, send);
  if (!key.ok) return key;
  return ok(
    kvStoreClient({
      baseUrl: splunkdBaseUrl(conn),
      sessionKey: key.value,
      timeoutMs: conn.timeoutMs,
      ...(conn.trust ? { trust: conn.trust } : {}),
      ...(conn.lookup ? { lookup: conn.lookup } : {}),
    }),
  );
}

/** A logged-in KV store client, or why not with the exit code to use (2 usage, 3 refused, 4 unreachable, 5 otherwise). */
export async function kvClientOrFailure(opts: ConnectionOptions, io: CliIO): Promise<KvStoreClient | CliStateFailure> {
  const conn = await connectionFrom(opts, io);
  if (typeof conn === 'string') return { message: conn, exitCode: KV_CONNECT_EXIT.USAGE };
  const client = await kvClientForConnection(conn);
  return client.ok ? client.value : { message: client.error.message, exitCode: restExitCode(client.error.kind) };
}

/** The exit code of a KV store failure during a command: 3 refused, 4 unreachable, 5 otherwise. */
export function kvExitCode(kind: KvErrorKind | string): number {
  if (kind === 'unauthorized') return REST_EXIT.AUTH;
  if (kind === 'io') return REST_EXIT.UNREACHABLE;
  return REST_EXIT.FAILED;
}

/** The KV store state behind an already-resolved connection (drain resolves it for its secrets too). */
export async function kvStateForConnection(conn: SplunkConnection, layout: DataLayout): Promise<CliSharedState | CliStateFailure> {
  const client = await kvClientForConnection(conn);
  if (!client.ok) return { message: client.error.message, exitCode: restExitCode(client.error.kind) };
  return { state: kvState(client.value, layout), where: 'kvstore', description: `the KV store at ${splunkdBaseUrl(conn)}` };
}

/**
 * The shared state a command works on: the KV store when a connection was asked for (`opts`
 * given: see connectionRequested), else this host's data directory.
 */
export async function cliSharedState(opts: ConnectionOptions | undefined, io: CliIO, layout: DataLayout): Promise<CliSharedState | CliStateFailure> {
  if (opts === undefined) return { state: fileState(layout), where: 'file', description: `the data directory ${layout.root}` };
  const conn = await connectionFrom(opts, io);
  if (typeof conn === 'string') return { message: conn, exitCode: KV_CONNECT_EXIT.USAGE };
  return kvStateForConnection(conn, layout);
}

/** Whether a connection attempt (cliSharedState, kvClientOrFailure) answered a failure. */
export function isStateFailure<T extends object>(s: T | CliStateFailure): s is CliStateFailure {
  return 'exitCode' in s;
}

/**
 * The pipeline's outside world for a CLI run (drain, replay): the system's, on the KV store's
 * state when the command has a connection; without one, the pipeline's default (this host's
 * data directory).
 */
export function cliPipelineDeps(layout: DataLayout, env: CliIO['env'], shared: SharedState | undefined): PipelineDeps {
  const deps = systemPipelineDeps(layout, env);
  return shared === undefined ? deps : { ...deps, stateFor: () => shared };
}
