/**
 * `soar-edr replay FILE`: run a dead letter again. A kept alert payload (kind `payload`)
 * goes through the alert action in this process, exactly as splunkd would have run it; a
 * notification Discord refused (kind `notification`) goes back into the outbox for
 * `soar-edr drain`. `soar-edr replay --list` shows what is waiting.
 *
 * Nothing in a dead letter is trusted: only files this install sealed are replayed (an
 * admin may vouch for an unsealed one with --trust-unsealed, never for a changed one); a
 * payload's results_file must lie inside splunkd's dispatch folder or the app's spool; its
 * server_uri and session_key are never used; every value shown has its control characters
 * made visible.
 */
import { existsSync, renameSync } from 'node:fs';
import { realpathOrUndefined } from '../store/data-dir-safety';
import * as path from 'node:path';
import { Command } from 'commander';
import { createIncidentPipeline } from '../pipeline/incident-pipeline';
import { DeadLetter, inspectDeadLetter, InspectedDeadLetter, listDeadLetters, notificationOf, requeueDeadLetter, requeueDeadLetterInto } from '../respond/outbox';
import { capLength, safeText } from '../respond/safe-text';
import { fail, ok, Result } from '../result';
import { ACTION_NAME, runAlertAction, RunSummary } from '../splunk/alert-run';
import { EXIT } from '../splunk/exit-codes';
import { AlertPayload, parsePayload } from '../splunk/payload';
import { fetchStoredSecrets, SECRET_NAMES, secretsFromEnv } from '../splunk/secrets';
import type { DataLayout } from '../store/data-dir';
import type { SharedState } from '../state/shared-state';
import { cliPipelineDeps, cliSharedState, isStateFailure } from './kvstore-connection';
import { addConnectionOptions, CliIO, complain, ConnectionOptions, connectionRequested, safeDataLayout, stderrLogger, UNSAFE_DATA_DIR_EXIT } from './runtime';

/** For payloads the exit code is the alert action's (0, 1, 3, 4, 6); these are the command's own. */
export const REPLAY_EXIT = { OK: 0, USAGE: 2, FAILED: 5, UNSAFE_DATA_DIR: UNSAFE_DATA_DIR_EXIT } as const;

/** A path or value from a dead letter or the command line, as it may reach a terminal. */
function shown(text: string, max = 300): string {
  return capLength(safeText(text), max);
}

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
  return fail('corrupt_dead_letter', `${shown(file)} is a ${shown(String(letter.kind), 40)} dead letter without the payload text`);
}

/** One line per dead letter: file, kind, time kept, reason; every field with its controls made visible. */
export function formatDeadLetterLine(file: string, letter: Result<InspectedDeadLetter>): string {
  if (!letter.ok) return `${shown(file)}\t(unreadable)\t-\t${safeText(letter.error.message)}`;
  const { letter: l, seal } = letter.value;
  const n = l.notification;
  const kind = n && typeof n === 'object' ? `notification ${shown(String(n.incidentId), 60)}:${shown(String(n.kind), 40)}` : shown(String(l.kind), 40);
  const what = seal === 'valid' ? kind : `${kind} (untrusted: ${seal === 'unsealed' ? 'no MAC' : 'wrong MAC'})`;
  return `${shown(file)}\t${what}\t${shown(String(l.createdAt), 40)}\t${shown(String(l.reason))}`;
}

function runSummaryLine(file: string, s: RunSummary): string {
  return `replayed ${shown(file)}: exit_code=${s.exitCode} rows=${s.rows} handed_off=${s.handedOff} rejected=${s.rejected} failed=${s.failed} degraded=${s.degraded}`;
}

/** realpath that reports a missing path as undefined. */
export type Realpath = (p: string) => string | undefined;

export const systemRealpath: Realpath = realpathOrUndefined;

/** The path with every link resolved; for a path that does not exist (yet), its deepest existing folder resolved and the rest appended. */
function resolvedPath(p: string, realpath: Realpath): string | undefined {
  const rest: string[] = [];
  for (let cur = p; ; cur = path.dirname(cur)) {
    const real = realpath(cur);
    if (real !== undefined) return path.join(real, ...rest);
    if (path.dirname(cur) === cur) return undefined;
    rest.unshift(path.basename(cur));
  }
}

/**
 * The folders a replayed payload's results_file may come from: splunkd's dispatch folder
 * ($SPLUNK_HOME/var/run/splunk/dispatch, where splunkd writes results) and the app's spool,
 * each resolved with realpath; those that do not exist are left out.
 */
export function resultsRoots(env: Readonly<Record<string, string | undefined>>, layout: DataLayout, realpath: Realpath = systemRealpath): string[] {
  const candidates = [...(env.SPLUNK_HOME?.trim() ? [path.join(path.resolve(env.SPLUNK_HOME.trim()), 'var', 'run', 'splunk', 'dispatch')] : []), layout.spool];
  return candidates.map((c) => realpath(c)).filter((c): c is string => c !== undefined);
}

/**
 * A dead letter's results_file, only when it lies inside one of `roots` once every link is
 * resolved (no `..`, no link leading out): a crafted dead letter must not make replay read
 * an arbitrary file. Returns the resolved path, which is what replay then reads.
 */
export function confineResultsFile(file: string, roots: readonly string[], realpath: Realpath = systemRealpath): Result<string, 'outside'> {
  const refuse = (why: string) =>
    fail('outside', `results_file ${JSON.stringify(shown(file, 200))} ${why}: replay reads results only from splunkd's dispatch folder ($SPLUNK_HOME/var/run/splunk/dispatch) or the app's spool`);
  if (!path.isAbsolute(file)) return refuse('is not an absolute path');
  if (file.split(/[\\/]/).includes('..')) return refuse('climbs out with ..');
  if (roots.length === 0) return refuse('cannot be checked (neither SPLUNK_HOME nor the spool folder is there)');
  let real: string | undefined;
  try {
    real = resolvedPath(file, realpath);
  } catch (e) {
    return refuse(`cannot be resolved (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (real !== undefined && roots.some((root) => real.startsWith(root.endsWith(path.sep) ? root : root + path.sep))) return ok(real);
  return refuse('lies outside the folders replay may read');
}

/**
 * The payload replay runs: what the dead letter held, parsed, with the results file
 * confined and without a server_uri or session_key, so that nothing reaches a splunkd the
 * file names and no key from the file is ever sent anywhere.
 */
export function replayPayloadJson(p: AlertPayload, resultsFile: string): Record<string, unknown> {
  return {
    app: p.app,
    owner: p.owner,
    results_file: resultsFile,
    results_link: p.resultsLink,
    search_uri: p.searchUri,
    server_host: p.serverHost,
    server_uri: '',
    session_key: '',
    sid: p.sid,
    search_name: p.searchName,
    configuration: p.configuration,
    ...(p.result !== undefined ? { result: p.result } : {}),
    ...(p.resultId !== undefined ? { result_id: p.resultId } : {}),
  };
}

async function parseXml(text: string): Promise<unknown> {
  // Only for a payload kept in XML (payload_format = xml); loaded on demand as in the alert action.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const xml2js = require('xml2js') as typeof import('xml2js');
  return xml2js.parseStringPromise(text, { explicitArray: true });
}

async function replayPayload(io: CliIO, layout: DataLayout, file: string, letter: DeadLetter, keep: boolean, shared: SharedState | undefined): Promise<number> {
  const text = payloadText(letter, file);
  if (!text.ok) {
    complain(io, text.error.message);
    return REPLAY_EXIT.USAGE;
  }
  const parsed = await parsePayload(text.value, parseXml);
  if (!parsed.ok) {
    complain(io, `${shown(file)} holds a payload that cannot be run (${shown(parsed.error.kind, 40)}: ${shown(parsed.error.message)}); dead letter left in place`);
    return EXIT.BAD_PAYLOAD;
  }
  const resultsFile = confineResultsFile(parsed.value.resultsFile, resultsRoots(io.env, layout));
  if (!resultsFile.ok) {
    complain(io, `${shown(file)} not replayed: ${resultsFile.error.message}`);
    return REPLAY_EXIT.USAGE;
  }
  const stdin = JSON.stringify(replayPayloadJson(parsed.value, resultsFile.value));
  const fromEnv = secretsFromEnv(io.env);
  const note = stderrLogger(io, { action_name: ACTION_NAME });
  note.warn('Replaying a dead-lettered payload', {
    file,
    kept_because: letter.reason,
    kept_at: String(letter.createdAt),
    results_file: resultsFile.value,
    message: 'the session key was blanked when the payload was kept, and replay never uses a server_uri or session_key from the file: secrets come from the SOAR_* environment variables',
    secrets_from_env: SECRET_NAMES.filter((n) => fromEnv[n] !== undefined).join(',') || 'none',
  });
  note.flush();
  const summary = await runAlertAction(
    {
      args: ['--execute'],
      readStdin: () => Promise.resolve(stdin),
      writeStderr: (t) => io.stderr.write(t),
      env: io.env,
      now: () => new Date(),
      parseXml,
      fetchStoredSecrets,
      maxRssKb: () => process.resourceUsage().maxRSS,
      // The dead letter being replayed stays where it is; no second copy.
      keepDeadLetter: () => undefined,
    },
    (context) => createIncidentPipeline(context, cliPipelineDeps(layout, io.env, shared)),
  );
  let line = runSummaryLine(file, summary);
  if ((summary.exitCode === EXIT.OK || summary.exitCode === EXIT.DEGRADED) && !keep) {
    try {
      renameSync(file, file + REPLAYED_SUFFIX);
      line += `; moved to ${shown(file + REPLAYED_SUFFIX)}`;
    } catch (e) {
      complain(io, `replayed, but cannot move ${shown(file)} aside: ${shown((e as Error).message)}`);
    }
  } else {
    line += '; dead letter left in place';
  }
  io.stdout.write(line + '\n');
  return summary.exitCode;
}

/** Back into the outbox: the KV store's (every member drains it) with a connection, else this host's. */
async function replayNotification(io: CliIO, layout: DataLayout, file: string, letter: DeadLetter, trustUnsealed: boolean, shared: SharedState | undefined): Promise<number> {
  const r = shared === undefined
    ? requeueDeadLetter(layout, file, Date.now(), { trustUnsealed })
    : await requeueDeadLetterInto(layout, file, (n) => shared.outbox.enqueue(n, Date.now()), { trustUnsealed });
  if (!r.ok) {
    complain(io, safeText(r.error.message));
    const usage: readonly string[] = ['invalid_dead_letter', 'corrupt_dead_letter', 'not_found', 'untrusted_dead_letter'];
    return usage.includes(r.error.kind) ? REPLAY_EXIT.USAGE : REPLAY_EXIT.FAILED;
  }
  const n = notificationOf(letter, trustUnsealed);
  const status = r.value === 'queued' ? 'queued in the outbox' : r.value.replace(/_/g, ' ');
  io.stdout.write(`requeued ${shown(file)}: notification ${shown(String(n?.incidentId), 60)}:${shown(String(n?.kind), 40)} ${status}; soar-edr drain delivers it\n`);
  return REPLAY_EXIT.OK;
}

/** Whether a dead letter may be replayed: sealed by this install, or unsealed and vouched for by the admin. */
function trusted(io: CliIO, file: string, inspected: InspectedDeadLetter, trustUnsealed: boolean): boolean {
  if (inspected.seal === 'valid' || (inspected.seal === 'unsealed' && trustUnsealed)) return true;
  const hint = inspected.seal === 'unsealed' ? '; if you know where it came from (a version before dead letters were sealed), soar-edr replay --trust-unsealed FILE runs it' : '';
  complain(io, `${shown(file)} was not written by this install, not replayed: ${safeText(inspected.sealProblem ?? 'its seal does not hold')}${hint}`);
  return false;
}

export function replayCommand(io: CliIO): Command {
  const cmd = new Command('replay')
    .description('run a dead letter again: a kept alert payload through the alert action, a refused notification back into the outbox')
    .argument('[file]', 'the dead-letter file (a path, or a file name in $SOAR_DATA_DIR/dead-letters)')
    .option('--keep', 'leave a replayed payload dead letter in place (default: renamed to FILE.replayed when the run exits 0 or 6)')
    .option('--list', 'list the dead letters waiting: file, kind, time kept, reason')
    .option('--trust-unsealed', 'also replay a dead letter without a MAC (kept by a version before dead letters were sealed, or an outbox entry dead-lettered for that); never one whose MAC is wrong')
    .addHelpText(
      'after',
      `
Only dead letters this install wrote (their MAC matches the install key) are replayed.
A payload's results_file must lie inside $SPLUNK_HOME/var/run/splunk/dispatch or the
app's spool folder; its server_uri and session_key are never used, so the replay reads
secrets from the SOAR_* environment variables (SOAR_VIRUSTOTAL_API_KEY,
SOAR_ABUSEIPDB_API_KEY, SOAR_DISCORD_WEBHOOK_URL), never from storage/passwords. A result
already recorded as an incident (same sid and rid) is not recorded twice. A notification
dead letter is removed once it is back in the outbox.
With a connection option (--host, --port, --scheme, --user, --password, or SPLUNK_HOST /
SPLUNK_PASSWORD) a payload is replayed on the KV store's shared state (incidents, blocks,
intel cache, quota: what every cluster member sees) and a notification goes back into the
KV store's outbox (any member's run delivers it); without one, on this host's data
directory. The connection is used for nothing else: secrets still come from SOAR_*.

Exit codes:
  payload       the alert action's exit code: 0 handled, 1 internal error, 3 bad payload or
                results file (rows that could be read were handled), 4 a row rejected or
                failed, 6 degraded (enrichment or notification kept for later)
  notification  0 back in the outbox, 5 the outbox could not be written
  5             with a connection: splunkd refused the login, could not be reached or its
                certificate is not trusted (nothing was replayed)
  2             usage: no FILE, no such file, not a SOAR-EDR dead letter, not written by
                this install (no MAC or a wrong one), a kind that cannot be replayed, or a
                results_file outside the dispatch and spool folders
  7             the data directory is unsafe (see docs/operations.md); nothing was done`,
    );
  addConnectionOptions(cmd, io.env);
  cmd.action(async (file: string | undefined, opts: ConnectionOptions & { keep?: boolean; list?: boolean; trustUnsealed?: boolean }) => {
    if (opts.list && file !== undefined) {
      complain(io, '--list takes no FILE');
      return io.setExitCode(REPLAY_EXIT.USAGE);
    }
    if (!opts.list && file === undefined) {
      complain(io, 'replay needs a dead-letter FILE (soar-edr replay --list shows them)');
      return io.setExitCode(REPLAY_EXIT.USAGE);
    }
    const data = safeDataLayout(io);
    if (data === undefined) return;
    const { layout, key } = data;
    if (opts.list) {
      const files = listDeadLetters(layout);
      if (files.length === 0) io.stdout.write(`no dead letters in ${shown(layout.deadLetters)}\n`);
      for (const f of files) io.stdout.write(formatDeadLetterLine(f, inspectDeadLetter(f, key)) + '\n');
      return io.setExitCode(REPLAY_EXIT.OK);
    }
    const located = locateDeadLetter(layout, file!, existsSync);
    const inspected = inspectDeadLetter(located, key);
    if (!inspected.ok) {
      complain(io, safeText(inspected.error.message));
      return io.setExitCode(REPLAY_EXIT.USAGE);
    }
    const letter = inspected.value.letter;
    const trustUnsealed = opts.trustUnsealed === true;
    const notification = letter.kind === 'notification' || letter.kind === 'forged';
    if (notification || PAYLOAD_KINDS.has(letter.kind)) {
      if (!notification && !trusted(io, located, inspected.value, trustUnsealed)) return io.setExitCode(REPLAY_EXIT.USAGE);
      // A payload runs the pipeline and a notification goes back into the outbox: both on the KV store with a connection.
      let shared: SharedState | undefined;
      if (connectionRequested(cmd, io.env)) {
        const opened = await cliSharedState(opts, io, layout);
        if (isStateFailure(opened)) {
          complain(io, opened.message);
          // The alert action's codes 3 and 4 mean other things here: a connection failure is 5.
          return io.setExitCode(opened.exitCode === REPLAY_EXIT.USAGE ? REPLAY_EXIT.USAGE : REPLAY_EXIT.FAILED);
        }
        shared = opened.state;
      }
      try {
        if (notification) return io.setExitCode(await replayNotification(io, layout, located, letter, trustUnsealed, shared));
        return io.setExitCode(await replayPayload(io, layout, located, letter, opts.keep === true, shared));
      } finally {
        shared?.close();
      }
    }
    complain(io, `${shown(located)} holds a dead letter of kind ${JSON.stringify(shown(String(letter.kind), 40))}, which cannot be replayed (only payload and notification); its reason: ${shown(String(letter.reason))}`);
    io.setExitCode(REPLAY_EXIT.USAGE);
  });
  return cmd;
}
