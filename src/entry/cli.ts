/**
 * Bundle entry of the `soar-edr` command (dist/cli/soar-edr.cjs).
 */
import { Command } from 'commander';
import { secretsCommand } from '../cli/secrets-command';

const program = new Command('soar-edr')
  .description('SOAR-EDR analyst and admin command line')
  .version(process.env.SOAR_EDR_VERSION ?? 'dev');

program.addCommand(
  secretsCommand({
    env: process.env,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    setExitCode: (code) => {
      process.exitCode = code;
    },
  }),
);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`soar-edr: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
