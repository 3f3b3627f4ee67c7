/**
 * `soar-edr secrets set NAME` / `soar-edr secrets list`: an admin manages the app's
 * secrets in splunkd's storage/passwords (realm soar_edr) through the REST API.
 */
import { Command } from 'commander';
import { isSecretName, listStoredSecrets, SECRET_NAMES, SECRET_REALM, SplunkConnection, storeSecret } from '../splunk/secrets';
import { promptHidden, readAllStdin } from './prompt';

export const SECRETS_EXIT = { OK: 0, USAGE: 2, AUTH: 3, UNREACHABLE: 4, FAILED: 5 } as const;

interface ConnectionOptions {
  host: string;
  port: string;
  scheme: string;
  user: string;
  password?: string;
  timeout: string;
}

export interface CliIO {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: NodeJS.ReadStream;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  setExitCode(code: number): void;
}

function addConnectionOptions(cmd: Command, env: CliIO['env']): Command {
  return cmd
    .option('--host <host>', 'splunkd management host (env SPLUNK_HOST)', env.SPLUNK_HOST ?? '127.0.0.1')
    .option('--port <port>', 'splunkd management port (env SPLUNK_PORT)', env.SPLUNK_PORT ?? '8089')
    .option('--scheme <scheme>', 'http or https (env SPLUNK_SCHEME)', env.SPLUNK_SCHEME ?? 'https')
    .option('--user <user>', 'Splunk admin user (env SPLUNK_USERNAME)', env.SPLUNK_USERNAME ?? 'admin')
    .option('--password <password>', 'Splunk password (env SPLUNK_PASSWORD; prompted when missing on a terminal)')
    .option('--timeout <ms>', 'REST request timeout in milliseconds', '15000');
}

async function connection(opts: ConnectionOptions, io: CliIO): Promise<SplunkConnection | string> {
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

function exitFor(kind: string): number {
  if (kind === 'auth' || kind === 'forbidden') return SECRETS_EXIT.AUTH;
  if (kind === 'unreachable' || kind === 'timeout') return SECRETS_EXIT.UNREACHABLE;
  return SECRETS_EXIT.FAILED;
}

export function secretsCommand(io: CliIO): Command {
  const secrets = new Command('secrets').description(
    `manage the app's secrets in Splunk storage/passwords (realm ${SECRET_REALM}): ${SECRET_NAMES.join(', ')}`,
  );
  addConnectionOptions(
    secrets
      .command('set')
      .argument('<name>', `one of ${SECRET_NAMES.join(', ')}`)
      .description('store a secret; the value is read from stdin, or asked for without echo on a terminal'),
    io.env,
  ).action(async (name: string, opts: ConnectionOptions) => {
    if (!isSecretName(name)) {
      io.stderr.write(`soar-edr: unknown secret ${JSON.stringify(name)}; expected one of ${SECRET_NAMES.join(', ')}\n`);
      return io.setExitCode(SECRETS_EXIT.USAGE);
    }
    const conn = await connection(opts, io);
    if (typeof conn === 'string') {
      io.stderr.write(`soar-edr: ${conn}\n`);
      return io.setExitCode(SECRETS_EXIT.USAGE);
    }
    const value = (io.stdin.isTTY ? await promptHidden(`${name}: `, io.stdin, io.stderr) : await readAllStdin(io.stdin)).trim();
    if (value === '') {
      io.stderr.write(`soar-edr: empty value for ${name}; nothing stored\n`);
      return io.setExitCode(SECRETS_EXIT.USAGE);
    }
    const r = await storeSecret(conn, name, value);
    if (!r.ok) {
      io.stderr.write(`soar-edr: ${r.error.message}\n`);
      return io.setExitCode(exitFor(r.error.kind));
    }
    io.stdout.write(`${name} ${r.value} in storage/passwords (realm ${SECRET_REALM}, app soar_edr)\n`);
    io.setExitCode(SECRETS_EXIT.OK);
  });
  addConnectionOptions(secrets.command('list').description('list which secrets are stored (names only, never values)'), io.env).action(
    async (opts: ConnectionOptions) => {
      const conn = await connection(opts, io);
      if (typeof conn === 'string') {
        io.stderr.write(`soar-edr: ${conn}\n`);
        return io.setExitCode(SECRETS_EXIT.USAGE);
      }
      const r = await listStoredSecrets(conn);
      if (!r.ok) {
        io.stderr.write(`soar-edr: ${r.error.message}\n`);
        return io.setExitCode(exitFor(r.error.kind));
      }
      for (const name of SECRET_NAMES) io.stdout.write(`${name}\t${r.value.includes(name) ? 'stored' : 'not set'}\n`);
      io.setExitCode(SECRETS_EXIT.OK);
    },
  );
  return secrets;
}
