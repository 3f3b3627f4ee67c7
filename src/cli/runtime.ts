/**
 * What the `soar-edr` subcommands share: the process's streams and environment (CliIO),
 * the data directory, the real outside world the incident pipeline works with, and the
 * splunkd connection options (used by `secrets`, and by `drain` and `reputation` to read
 * storage/passwords), certificate checks included (src/net/tls-trust.ts).
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { Command } from 'commander';
import { createLogger, Logger, LogFields, LogLevel } from '../splunk/log';
import { fetchStoredSecrets, mergeSecrets, ResolvedSecrets, Secrets, secretsFromEnv, SplunkConnection, SplunkRestErrorKind } from '../splunk/secrets';
import { safeText } from '../respond/safe-text';
import { Result } from '../result';
import { EXIT } from '../splunk/exit-codes';
import { DataLayout, dataLayout, resolveDataDir } from '../store/data-dir';
import { readCaFile, splunkHomeFrom } from '../net/tls-trust';
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
  caFile?: string;
  insecure?: boolean;
}

/** Exit codes shared by every subcommand that talks to splunkd. */
export const REST_EXIT = { AUTH: 3, UNREACHABLE: 4, FAILED: 5 } as const;

export function addConnectionOptions(cmd: Command, env: CliIO['env']): Command {
  return cmd
    .option('--host <host>', 'splunkd management host (env SPLUNK_HOST)', env.SPLUNK_HOST ?? '127.0.0.1')
    .option('--port <port>', 'splunkd management port (env SPLUNK_PORT)', env.SPLUNK_PORT ?? '8089')
    .option('--scheme <scheme>', 'http or https (env SPLUNK_SCHEME)', env.SPLUNK_SCHEME ?? 'https')
    .option('--user <user>', 'Splunk admin user (env SPLUNK_USERNAME)', env.SPLUNK_USERNAME ?? 'admin')
    .option(
      '--password <password>',
      'Splunk password; discouraged: other local users can read it in /proc and ps. Use the prompt (asked without echo on a terminal) or the environment (SPLUNK_PASSWORD)',
    )
    .option('--timeout <ms>', 'REST request timeout in milliseconds', '15000')
    .option('--ca-file <file>', "also trust this CA (PEM) for splunkd's certificate (env SPLUNK_CA_FILE)")
    .option('--insecure', "do not check splunkd's TLS certificate (a warning is printed; anyone on the path could read the password)")
    .addHelpText('after', CONNECTION_HELP);
}

const CONNECTION_HELP = `
splunkd's TLS certificate is checked: system CAs and the host name; --ca-file FILE (or
SPLUNK_CA_FILE) adds a CA. On 127.0.0.1, ::1 or localhost, splunkd's default certificate (issued
by $SPLUNK_HOME/etc/auth/cacert.pem, /opt/splunk without SPLUNK_HOME) is accepted whatever name
it carries. An untrusted certificate stops the command before anything is sent. --insecure
checks nothing, and says so on stderr.
The Splunk password: the prompt on a terminal, or SPLUNK_PASSWORD. --password works but is
discouraged: other local users can read a command line in /proc and ps.`;

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
  const insecure = opts.insecure === true;
  const caFile = opts.caFile ?? (io.env.SPLUNK_CA_FILE?.trim() || undefined);
  let caPem: string[] = [];
  if (caFile !== undefined && !insecure) {
    const read = readCaFile(caFile, (f) => readFileSync(f, 'utf8'));
    if (!read.ok) return read.error.message;
    caPem = read.value;
  }
  let password = opts.password ?? io.env.SPLUNK_PASSWORD;
  if (!password) {
    if (!io.stdin.isTTY) return 'no Splunk password: set SPLUNK_PASSWORD, or run on a terminal to be asked (--password also works, but other local users can read it in ps)';
    password = await promptHidden(`Splunk password for ${opts.user}: `, io.stdin, io.stderr);
  }
  if (insecure && opts.scheme === 'https') {
    // Once per run, before anything is sent; the password itself is never written.
    io.stderr.write(`soar-edr: WARN splunkd's TLS certificate at ${opts.host}:${port} is not checked (--insecure): anyone on the network path can read and change what is sent, the Splunk password included\n`);
  }
  return {
    scheme: opts.scheme,
    host: opts.host,
    port,
    username: opts.user,
    password,
    timeoutMs: Number(opts.timeout) || 15000,
    trust: { insecure, caPem, serverConfCa: false, splunkHome: splunkHomeFrom(io.env) },
  };
}

export function restExitCode(kind: SplunkRestErrorKind | string): number {
  if (kind === 'auth' || kind === 'forbidden') return REST_EXIT.AUTH;
  // An untrusted certificate is a connection failure: nothing was sent.
  if (kind === 'unreachable' || kind === 'timeout' || kind === 'certificate') return REST_EXIT.UNREACHABLE;
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
