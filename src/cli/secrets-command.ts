/**
 * `soar-edr secrets set NAME` / `soar-edr secrets list`: an admin manages the app's
 * secrets in splunkd's storage/passwords (realm soar_edr) through the REST API.
 */
import { Command } from 'commander';
import { isSecretName, listStoredSecrets, SECRET_NAMES, SECRET_REALM, storeSecret } from '../splunk/secrets';
import { promptHidden, readAllStdin } from './prompt';
import { addConnectionOptions, CliIO, connectionFrom, ConnectionOptions, REST_EXIT, restExitCode } from './runtime';

export type { CliIO } from './runtime';

/** USAGE also covers a --ca-file that cannot be read; UNREACHABLE also an untrusted certificate (nothing sent). */
export const SECRETS_EXIT = { OK: 0, USAGE: 2, ...REST_EXIT } as const;

const EXIT_HELP = `
Exit codes: 0 done, 2 usage (unknown name, empty value, no password, a --ca-file that cannot be
read or holds no certificate), 3 authentication or permission refused, 4 splunkd unreachable or
its TLS certificate not trusted (nothing was sent), 5 other REST failure.`;

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
  )
    .addHelpText('after', EXIT_HELP)
    .action(async (name: string, opts: ConnectionOptions) => {
    if (!isSecretName(name)) {
      io.stderr.write(`soar-edr: unknown secret ${JSON.stringify(name)}; expected one of ${SECRET_NAMES.join(', ')}\n`);
      return io.setExitCode(SECRETS_EXIT.USAGE);
    }
    const conn = await connectionFrom(opts, io);
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
      return io.setExitCode(restExitCode(r.error.kind));
    }
    io.stdout.write(`${name} ${r.value} in storage/passwords (realm ${SECRET_REALM}, app soar_edr)\n`);
    io.setExitCode(SECRETS_EXIT.OK);
  });
  addConnectionOptions(secrets.command('list').description('list which secrets are stored (names only, never values)'), io.env)
    .addHelpText('after', EXIT_HELP)
    .action(
    async (opts: ConnectionOptions) => {
      const conn = await connectionFrom(opts, io);
      if (typeof conn === 'string') {
        io.stderr.write(`soar-edr: ${conn}\n`);
        return io.setExitCode(SECRETS_EXIT.USAGE);
      }
      const r = await listStoredSecrets(conn);
      if (!r.ok) {
        io.stderr.write(`soar-edr: ${r.error.message}\n`);
        return io.setExitCode(restExitCode(r.error.kind));
      }
      for (const name of SECRET_NAMES) io.stdout.write(`${name}\t${r.value.includes(name) ? 'stored' : 'not set'}\n`);
      io.setExitCode(SECRETS_EXIT.OK);
    },
  );
  return secrets;
}
