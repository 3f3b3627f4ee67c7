/**
 * `soar-edr state import [--force]`: import this member's file store (left by 0.1.0) into
 * splunkd's KV store, as the alert action does by itself on a member's first KV store run
 * (src/state/file-store-import.ts has what is imported and how it merges).
 */
import { Command } from 'commander';
import { safeText } from '../respond/safe-text';
import { importFileStore, IMPORTED_KINDS, ImportReport, NOT_IMPORTED } from '../state/file-store-import';
import { isStateFailure, kvClientOrFailure, kvExitCode } from './kvstore-connection';
import { addConnectionOptions, CliIO, complain, ConnectionOptions, REST_EXIT, safeDataLayout, UNSAFE_DATA_DIR_EXIT } from './runtime';

export const STATE_EXIT = { OK: 0, USAGE: 2, ...REST_EXIT, UNSAFE_DATA_DIR: UNSAFE_DATA_DIR_EXIT } as const;

/** Skipped records named on stderr; the rest are counted. */
const SKIPPED_SHOWN = 20;

const IMPORT_HELP = `
Imported, each merged with what the KV store already has (running it again changes nothing):
  blocklist      blocklist.csv and ledger/block-history.json -> soar_blocklist
                 (the later expiry, the larger count, the offences of both)
  notifications  ledger/notified/ -> soar_state notified:<ip> (the newer notification)
  intel          cache/ -> soar_intel (per provider the newer answer; expired ones are left)
  incidents      incidents.csv -> soar_incidents (keyed by sid + rid; rows without them stay)
Not imported: quota/ (windows of a minute and a day), queue/, outbox/ and spool/ (this
member's own work, delivered by its runs and maintenance). The files are left as they are.
Afterwards ledger/kvstore-import.json marks this member's data directory as imported; with
it present the command does nothing, unless --force.

Exit codes: 0 imported (or imported before), 2 usage (no password, a bad --port or --scheme,
a --ca-file that cannot be read), 3 authentication or permission refused, 4 splunkd unreachable
or its certificate not trusted, 5 the KV store failed (unavailable, read-only) or a file could
not be read (run it again: nothing is duplicated), 7 the data directory is unsafe.`;

function printReport(io: CliIO, report: Extract<ImportReport, { status: 'imported' }>): void {
  for (const kind of IMPORTED_KINDS) {
    const c = report.counts[kind];
    io.stdout.write(`${kind}: read=${c.read} written=${c.written} unchanged=${c.unchanged} skipped=${c.skipped}\n`);
  }
  io.stdout.write(`not imported: ${Object.keys(NOT_IMPORTED).join(', ')} (this member's files)\n`);
  io.stdout.write(`marker: ${report.marker}\n`);
  for (const s of report.skipped.slice(0, SKIPPED_SHOWN)) complain(io, `WARN not imported (${s.kind}) ${safeText(s.where)}: ${safeText(s.reason)}`);
  if (report.skipped.length > SKIPPED_SHOWN) complain(io, `WARN … and ${report.skipped.length - SKIPPED_SHOWN} more records not imported`);
}

export function stateCommand(io: CliIO): Command {
  const state = new Command('state').description("the app's shared state in splunkd's KV store");
  addConnectionOptions(
    state
      .command('import')
      .description("import this member's file store (left by 0.1.0) into the KV store, once")
      .option('--force', 'import again although this data directory was imported before (a merge: no duplicates)'),
    io.env,
  )
    .addHelpText('after', IMPORT_HELP)
    .action(async (opts: ConnectionOptions & { force?: boolean }) => {
      const data = safeDataLayout(io);
      if (data === undefined) return;
      const kv = await kvClientOrFailure(opts, io);
      if (isStateFailure(kv)) {
        complain(io, kv.message);
        return io.setExitCode(kv.exitCode);
      }
      try {
        const r = await importFileStore(data.layout, kv, { now: Date.now, version: process.env.SOAR_EDR_VERSION ?? 'dev', force: opts.force === true });
        if (!r.ok) {
          complain(io, `ERROR ${r.error.message}`);
          return io.setExitCode(kvExitCode(r.error.kind));
        }
        if (r.value.status === 'already_imported') {
          io.stdout.write(`already imported at ${new Date(r.value.importedAtMs).toISOString()} (by ${r.value.version || 'an earlier version'}; marker ${r.value.marker}); --force imports again\n`);
        } else {
          printReport(io, r.value);
        }
        io.setExitCode(STATE_EXIT.OK);
      } finally {
        kv.close();
      }
    });
  return state;
}
