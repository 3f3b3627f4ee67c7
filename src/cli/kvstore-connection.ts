/**
 * From a command's connection options (--host, --port, --scheme, --user, the password; see
 * runtime.ts addConnectionOptions) to a KV store client: log in once for a session key, then
 * talk to the app's collections on the same splunkd, under the same certificate rules.
 */
import { kvStoreClient, KvStoreClient } from '../store/kvstore-client';
import { loginSessionKey, SplunkConnection, SplunkRestErrorKind } from '../splunk/secrets';
import type { Result } from '../result';
import { CliIO, connectionFrom, ConnectionOptions, restExitCode } from './runtime';

/** Exit code of options that are wrong before anything is sent (a bad --port, no password). */
const USAGE_EXIT = 2;

export interface KvConnectFailure {
  readonly message: string;
  /** The exit code the other splunkd commands use for it (runtime.ts REST_EXIT, or 2 for usage). */
  readonly exitCode: number;
}

/** splunkd's management URL of a connection (an IPv6 host in brackets). */
export function managementUrl(conn: Pick<SplunkConnection, 'scheme' | 'host' | 'port'>): string {
  const bare = conn.host.replace(/^\[|\]$/g, '');
  return `${conn.scheme}://${bare.includes(':') ? `[${bare}]` : bare}:${conn.port}`;
}

/** A logged-in KV store client, or why not with the exit code to use. */
export async function kvClientOrFailure(opts: ConnectionOptions, io: CliIO, login: (conn: SplunkConnection) => Promise<Result<string, SplunkRestErrorKind>> = loginSessionKey): Promise<KvStoreClient | KvConnectFailure> {
  const conn = await connectionFrom(opts, io);
  if (typeof conn === 'string') return { message: conn, exitCode: USAGE_EXIT };
  const session = await login(conn);
  if (!session.ok) return { message: session.error.message, exitCode: restExitCode(session.error.kind) };
  return kvStoreClient({ baseUrl: managementUrl(conn), sessionKey: session.value, ...(conn.trust ? { trust: conn.trust } : {}), timeoutMs: conn.timeoutMs });
}

/** A logged-in KV store client, or a message saying why not (the password is never in it). */
export async function kvClientFrom(opts: ConnectionOptions, io: CliIO): Promise<KvStoreClient | string> {
  const r = await kvClientOrFailure(opts, io);
  return isKvConnectFailure(r) ? r.message : r;
}

/** Whether kvClientOrFailure answered a failure. */
export function isKvConnectFailure(r: KvStoreClient | KvConnectFailure): r is KvConnectFailure {
  return typeof (r as Partial<KvConnectFailure>).exitCode === 'number' && typeof (r as Partial<KvConnectFailure>).message === 'string';
}
