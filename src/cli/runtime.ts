/**
 * What the `soar-edr` subcommands share: the process's streams and environment (CliIO),
 * the data directory, the real outside world the incident pipeline works with, and the
 * splunkd connection options (used by `secrets`, and by `drain` to read storage/passwords).
 */
import { homedir } from 'node:os';
import { Command } from 'commander';
import { createLogger, Logger, LogFields, LogLevel } from '../splunk/log';
import { fetchStoredSecrets, mergeSecrets, ResolvedSecrets, Secrets, secretsFromEnv, SplunkConnection, SplunkRestErrorKind } from '../splunk/secrets';
import { safeText } from '../respond/safe-text';
import { Result } from '../result';
import { EXIT } from '../splunk/exit-codes';
import { DataLayout, dataLayout, resolveDataDir } from '../store/data-dir';
import { prepareDataDir } from '../store/data-dir-safety';
import { promptHidden } from './prompt';

export interface CliIO {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: NodeJS.ReadStream;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  setExitCode(code: number): void;
}

/** `soar-edr: <message>` on stderr, the CLI's own voice (the pipeline logs in Splunk's format). */
export function complain(io: CliIO, message: string): void {
  io.stderr.write(`soar-edr: ${message}\n`);
}

/** $SOAR_DATA_DIR, else the same default the alert action uses (DESIGN.md §3). */
/** A system error (ENOENT, EACCES, ...) as a person reads it. */
export function systemReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const known: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'it is a directory',
    EMFILE: 'too many open files',
    ENOTDIR: 'a part of the path is not a directory',
    ENOSPC: 'no space left on the device',
  };
  return (err.code !== undefined ? known[err.code] : undefined) ?? err.message ?? String(e);
}

export function cliDataLayout(env: CliIO['env']): DataLayout {
  return dataLayout(resolveDataDir(env, homedir()));
}

/** Exit code of every command that refuses an unsafe data directory: the alert action's. */
export const UNSAFE_DATA_DIR_EXIT = EXIT.UNSAFE_DATA_DIR;

/**
 * The data directory of a command that writes there, after the same safety check as the
 * alert action (data-dir-safety.ts): its real path, and the install key. On a refusal: one
 * ERROR line naming the path and the fix, exit code 7, and nothing written.
 */
export function safeDataLayout(io: CliIO): { layout: DataLayout; key: Buffer } | undefined {
  const prepared = prepareDataDir(resolveDataDir(io.env, homedir()));
  if (!prepared.ok) {
    io.stderr.write(`soar-edr: ERROR ${safeText(prepared.error.message)}\n`);
    io.setExitCode(UNSAFE_DATA_DIR_EXIT);
    return undefined;
  }
  return { layout: dataLayout(prepared.value.root), key: prepared.value.key };
}

/** The real network, clock and randomness, as src/entry/alert-action.ts passes them. */

/** The alert action's log format (`LEVEL key="value" …`) on stderr. */
export function stderrLogger(io: CliIO, base: LogFields, level: LogLevel = 'INFO'): Logger {
  return createLogger((text) => io.stderr.write(text), { level, base });
}

// ---------------------------------------------------------------------------- splunkd

export interface ConnectionOptions {
  host: string;
  port: string;
  scheme: string;
  user: string;
  password?: string;
  timeout: string;
}

/** Exit codes shared by every subcommand that talks to splunkd. */
export const REST_EXIT = { AUTH: 3, UNREACHABLE: 4, FAILED: 5 } as const;

export function addConnectionOptions(cmd: Command, env: CliIO['env']): Command {
  return cmd
    .option('--host <host>', 'splunkd management host (env SPLUNK_HOST)', env.SPLUNK_HOST ?? '127.0.0.1')
    .option('--port <port>', 'splunkd management port (env SPLUNK_PORT)', env.SPLUNK_PORT ?? '8089')
    .option('--scheme <scheme>', 'http or https (env SPLUNK_SCHEME)', env.SPLUNK_SCHEME ?? 'https')
    .option('--user <user>', 'Splunk admin user (env SPLUNK_USERNAME)', env.SPLUNK_USERNAME ?? 'admin')
    .option('--password <password>', 'Splunk password (env SPLUNK_PASSWORD; prompted when missing on a terminal)')
    .option('--timeout <ms>', 'REST request timeout in milliseconds', '15000');
}

/** Whether the person asked for splunkd at all: a connection option given, or SPLUNK_HOST / SPLUNK_PASSWORD set. */
export function connectionRequested(cmd: Command, env: CliIO['env']): boolean {
  const given = ['host', 'port', 'scheme', 'user', 'password'].some((o) => cmd.getOptionValueSource(o) === 'cli');
  return given || Boolean(env.SPLUNK_HOST?.trim()) || Boolean(env.SPLUNK_PASSWORD);
}

/** The connection the options describe, or what is wrong with them. */
export async function connectionFrom(opts: ConnectionOptions, io: CliIO): Promise<SplunkConnection | string> {
  if (opts.scheme !== 'http' && opts.scheme !== 'https') return `--scheme must be http or https, not ${opts.scheme}`;
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `--port must be 1-65535, not ${opts.port}`;
  let password = opts.password ?? io.env.SPLUNK_PASSWORD;
  if (!password) {
    if (!io.stdin.isTTY) return 'no Splunk password: pass --password or set SPLUNK_PASSWORD';
    password = await promptHidden(`Splunk password for ${opts.user}: `, io.stdin, io.stderr);
  }
  return { scheme: opts.scheme, host: opts.host, port, username: opts.user, password, timeoutMs: Number(opts.timeout) || 15000 };
}

export function restExitCode(kind: SplunkRestErrorKind | string): number {
  if (kind === 'auth' || kind === 'forbidden') return REST_EXIT.AUTH;
  if (kind === 'unreachable' || kind === 'timeout') return REST_EXIT.UNREACHABLE;
  return REST_EXIT.FAILED;
}

/**
 * The app's secrets for a command run by an admin: storage/passwords when a connection is
 * given (it wins, as in the alert action), the SOAR_* environment variables otherwise and
 * for what storage/passwords lacks.
 */
export async function resolveCliSecrets(
  connection: SplunkConnection | undefined,
  env: CliIO['env'],
  fetchStored: (conn: SplunkConnection) => Promise<Result<Secrets, SplunkRestErrorKind>> = fetchStoredSecrets,
): Promise<Result<ResolvedSecrets, SplunkRestErrorKind>> {
  let stored: Secrets = {};
  if (connection !== undefined) {
    const fetched = await fetchStored(connection);
    if (!fetched.ok) return fetched;
    stored = fetched.value;
  }
  return { ok: true, value: mergeSecrets(stored, secretsFromEnv(env)) };
}
