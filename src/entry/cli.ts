/**
 * Bundle entry of the `soar-edr` command (dist/cli/soar-edr.cjs).
 */
import { Command, CommanderError } from 'commander';
import { authlogCommand } from '../cli/authlog-command';
import { blockCommand } from '../cli/block-command';
import { drainCommand } from '../cli/drain-command';
import { generateCommand } from '../cli/generate-command';
import { incidentsCommand } from '../cli/incidents-command';
import { iocsCommand } from '../cli/iocs-command';
import { replayCommand } from '../cli/replay-command';
import { reputationCommand } from '../cli/reputation-command';
import type { CliIO } from '../cli/runtime';
import { secretsCommand } from '../cli/secrets-command';
import { stateCommand } from '../cli/state-command';
import { unblockCommand } from '../cli/unblock-command';
import { winlogCommand } from '../cli/winlog-command';

/** Exit code of a command-line mistake (unknown option, missing argument), in every subcommand. */
const USAGE_EXIT = 2;

const io: CliIO = {
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  setExitCode: (code) => {
    process.exitCode = code;
  },
};

const program = new Command('soar-edr')
  .description('SOAR-EDR analyst and admin command line')
  .version(process.env.SOAR_EDR_VERSION ?? 'dev');

program.addCommand(secretsCommand(io));
program.addCommand(drainCommand(io));
program.addCommand(replayCommand(io));
program.addCommand(blockCommand(io));
program.addCommand(unblockCommand(io));
program.addCommand(incidentsCommand(io));
program.addCommand(generateCommand(io));
program.addCommand(reputationCommand(io));
program.addCommand(authlogCommand(io));
program.addCommand(winlogCommand(io));
program.addCommand(iocsCommand(io));
program.addCommand(stateCommand(io));

/** Commander exits with 1 on its own errors; ours say 2 for usage, so throw instead and decide. */
function throwOnExit(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) throwOnExit(sub);
}
throwOnExit(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof CommanderError) {
    // Help and version exit 0; everything else commander reports (it already printed why) is usage.
    process.exitCode = e.exitCode === 0 ? 0 : USAGE_EXIT;
    return;
  }
  process.stderr.write(`soar-edr: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
