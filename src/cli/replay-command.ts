/**
 * `soar-edr replay FILE`: run a dead letter again. A kept alert payload (kind `payload`)
 * goes through the alert action in this process, exactly as splunkd would have run it; a
 * notification Discord refused (kind `notification`) goes back into the outbox for
 * `soar-edr drain`. `soar-edr replay --list` shows what is waiting.
 */
import { existsSync, renameSync } from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { createIncidentPipeline, systemPipelineDeps } from '../pipeline';
import { DeadLetter, listDeadLetters, readDeadLetter, requeueDeadLetter } from '../respond/outbox';
import { capLength, safeText } from '../respond/safe-text';
import { fail, ok, Result } from '../result';
import { ACTION_NAME, runAlertAction, RunSummary } from '../splunk/alert-run';
import { EXIT } from '../splunk/exit-codes';
import { fetchStoredSecrets, SECRET_NAMES, secretsFromEnv } from '../splunk/secrets';
import type { DataLayout } from '../store/data-dir';
import { CliIO, cliDataLayout, complain, stderrLogger } from './runtime';

/** For payloads the exit code is the alert action's (0, 1, 3, 4, 6); these are the command's own. */
export const REPLAY_EXIT = { OK: 0, USAGE: 2, FAILED: 5 } as const;

/** Dead-letter kinds that hold an alert payload's stdin text. */
const PAYLOAD_KINDS = new Set(['payload', 'alert_payload']);
export const REPLAYED_SUFFIX = '.replayed';

/** The file named, or a dead letter of that name in the data directory's dead-letters/. */
export function locateDeadLetter(layout: DataLayout, file: string, exists: (p: string) => boolean): string {
  if (exists(file) || path.basename(file) !== file) return path.resolve(file);
  const inStore = path.join(layout.deadLetters, file);
  return exists(inStore) ? inStore : path.resolve(file);
}

/** The stdin text a payload dead letter holds. */
export function payloadText(letter: DeadLetter, file: string): Result<string, 'corrupt_dead_letter'> {
  if (typeof letter.payload === 'string' && letter.payload.trim() !== '') return ok(letter.payload);
  if (letter.payload !== null && typeof letter.payload === 'object' && !Array.isArray(letter.payload)) return ok(JSON.stringify(letter.payload));
  return fail('corrupt_dead_letter', `${file} is a ${letter.kind} dead letter without the payload text`);
}

/** One line per dead letter: file, kind, time kept, reason. */
export function formatDeadLetterLine(file: string, letter: Result<DeadLetter>): string {
  if (!letter.ok) return `${file}\t(unreadable)\t-\t${safeText(letter.error.message)}`;
  const what = letter.value.notification ? `notification ${letter.value.notification.incidentId}:${letter.value.notification.kind}` : letter.value.kind;
  return `${file}\t${what}\t${safeText(String(letter.value.createdAt))}\t${capLength(safeText(letter.value.reason), 300)}`;
}

function runSummaryLine(file: string, s: RunSummary): string {
  return `replayed ${file}: exit_code=${s.exitCode} rows=${s.rows} handed_off=${s.handedOff} rejected=${s.rejected} failed=${s.failed} degraded=${s.degraded}`;
}

async function parseXml(text: string): Promise<unknown> {
  // Only for a payload kept in XML (payload_format = xml); loaded on demand as in the alert action.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const xml2js = require('xml2js') as typeof import('xml2js');
  return xml2js.parseStringPromise(text, { explicitArray: true });
}

async function replayPayload(io: CliIO, layout: DataLayout, file: string, letter: DeadLetter, keep: boolean): Promise<number> {
  const text = payloadText(letter, file);
  if (!text.ok) {
    complain(io, text.error.message);
    return REPLAY_EXIT.USAGE;
  }
  const fromEnv = secretsFromEnv(io.env);
  const note = stderrLogger(io, { action_name: ACTION_NAME });
  note.warn('Replaying a dead-lettered payload', {
    file,
    kept_because: letter.reason,
    kept_at: String(letter.createdAt),
    message: 'the session key was blanked when the payload was kept, so storage/passwords cannot be read: secrets come from the SOAR_* environment variables',
    secrets_from_env: SECRET_NAMES.filter((n) => fromEnv[n] !== undefined).join(',') || 'none',
  });
  note.flush();
  const summary = await runAlertAction(
    {
      args: ['--execute'],
      readStdin: () => Promise.resolve(text.value),
      writeStderr: (t) => io.stderr.write(t),
      env: io.env,
      now: () => new Date(),
      parseXml,
      fetchStoredSecrets,
      maxRssKb: () => process.resourceUsage().maxRSS,
      // The dead letter being replayed stays where it is; no second copy.
      keepDeadLetter: () => undefined,
    },
    (context) => createIncidentPipeline(context, systemPipelineDeps(layout, io.env)),
  );
  let line = runSummaryLine(file, summary);
  if ((summary.exitCode === EXIT.OK || summary.exitCode === EXIT.DEGRADED) && !keep) {
    try {
      renameSync(file, file + REPLAYED_SUFFIX);
      line += `; moved to ${file}${REPLAYED_SUFFIX}`;
    } catch (e) {
      complain(io, `replayed, but cannot move ${file} aside: ${(e as Error).message}`);
    }
  } else {
    line += '; dead letter left in place';
  }
  io.stdout.write(line + '\n');
  return summary.exitCode;
}

function replayNotification(io: CliIO, layout: DataLayout, file: string, letter: DeadLetter): number {
  const r = requeueDeadLetter(layout, file, Date.now());
  if (!r.ok) {
    complain(io, r.error.message);
    return r.error.kind === 'invalid_dead_letter' || r.error.kind === 'corrupt_dead_letter' || r.error.kind === 'not_found' ? REPLAY_EXIT.USAGE : REPLAY_EXIT.FAILED;
  }
  const n = letter.notification!;
  const status = r.value === 'queued' ? 'queued in the outbox' : r.value.replace(/_/g, ' ');
  io.stdout.write(`requeued ${file}: notification ${n.incidentId}:${n.kind} ${status}; soar-edr drain delivers it\n`);
  return REPLAY_EXIT.OK;
}

export function replayCommand(io: CliIO): Command {
  const cmd = new Command('replay')
    .description('run a dead letter again: a kept alert payload through the alert action, a refused notification back into the outbox')
    .argument('[file]', 'the dead-letter file (a path, or a file name in $SOAR_DATA_DIR/dead-letters)')
    .option('--keep', 'leave a replayed payload dead letter in place (default: renamed to FILE.replayed when the run exits 0 or 6)')
    .option('--list', 'list the dead letters waiting: file, kind, time kept, reason')
    .addHelpText(
      'after',
      `
A payload dead letter has its session key blanked, so the replay reads secrets from the
SOAR_* environment variables (SOAR_VIRUSTOTAL_API_KEY, SOAR_ABUSEIPDB_API_KEY,
SOAR_DISCORD_WEBHOOK_URL), never from storage/passwords. A result already recorded as an
incident (same sid and rid) is not recorded twice. A notification dead letter is removed
once it is back in the outbox.

Exit codes:
  payload       the alert action's exit code: 0 handled, 1 internal error, 3 bad payload or
                results file (rows that could be read were handled), 4 a row rejected or
                failed, 6 degraded (enrichment or notification kept for later)
  notification  0 back in the outbox, 5 the outbox could not be written
  2             usage: no FILE, no such file, not a SOAR-EDR dead letter, or a kind that
                cannot be replayed`,
    )
    .action(async (file: string | undefined, opts: { keep?: boolean; list?: boolean }) => {
      const layout = cliDataLayout(io.env);
      if (opts.list) {
        if (file !== undefined) {
          complain(io, '--list takes no FILE');
          return io.setExitCode(REPLAY_EXIT.USAGE);
        }
        const files = listDeadLetters(layout);
        if (files.length === 0) io.stdout.write(`no dead letters in ${layout.deadLetters}\n`);
        for (const f of files) io.stdout.write(formatDeadLetterLine(f, readDeadLetter(f)) + '\n');
        return io.setExitCode(REPLAY_EXIT.OK);
      }
      if (file === undefined) {
        complain(io, 'replay needs a dead-letter FILE (soar-edr replay --list shows them)');
        return io.setExitCode(REPLAY_EXIT.USAGE);
      }
      const located = locateDeadLetter(layout, file, existsSync);
      const letter = readDeadLetter(located);
      if (!letter.ok) {
        complain(io, letter.error.message);
        return io.setExitCode(REPLAY_EXIT.USAGE);
      }
      if (letter.value.kind === 'notification') return io.setExitCode(replayNotification(io, layout, located, letter.value));
      if (PAYLOAD_KINDS.has(letter.value.kind)) return io.setExitCode(await replayPayload(io, layout, located, letter.value, opts.keep === true));
      complain(io, `${located} holds a dead letter of kind ${JSON.stringify(capLength(safeText(letter.value.kind), 40))}, which cannot be replayed (only payload and notification); its reason: ${capLength(safeText(letter.value.reason), 300)}`);
      io.setExitCode(REPLAY_EXIT.USAGE);
    });
  return cmd;
}
