/**
 * `soar-edr unblock IP`: lift a simulated block (remove it from blocklist.csv and forget the
 * address's repeat-offender history) and print the commands that would lift a real one.
 * Nothing is ever run. `--list` shows the blocks in force, `--purge` drops expired ones.
 */
import { Command } from 'commander';
import { BlockEntry, listBlocks, purgeExpired, unblockAddress } from '../respond/blocklist';
import { IpAddress, parseIpAddress } from '../address/ip-address';
import { safeText } from '../respond/safe-text';
import { appendEventLines } from '../respond/incident-event-file';
import { blockLapsedEvent, incidentEventLine } from '../respond/incident-event';
import { BLOCKLIST_COLLECTION } from '../state/kv-state';
import type { DataLayout } from '../store/data-dir';
import { cliSharedState, CliSharedState, isStateFailure, kvExitCode } from './kvstore-connection';
import { addConnectionOptions, CliIO, complain, ConnectionOptions, connectionRequested, REST_EXIT, safeDataLayout, UNSAFE_DATA_DIR_EXIT } from './runtime';

/** AUTH and UNREACHABLE: splunkd's, with a connection (the KV store); FAILED is the store's, either one. */
export const UNBLOCK_EXIT = { OK: 0, NOT_BLOCKED: 1, USAGE: 2, AUTH: REST_EXIT.AUTH, UNREACHABLE: REST_EXIT.UNREACHABLE, FAILED: 5, UNSAFE_DATA_DIR: UNSAFE_DATA_DIR_EXIT } as const;

const TABLE_COLUMNS = ['ip', 'expires', 'count', 'verdict', 'reason'] as const;

/** The blocks as an aligned text table (the last column, the reason, unpadded). */
export function formatBlockTable(entries: readonly BlockEntry[]): string {
  const rows = entries.map((e) => [e.address.text, new Date(e.expiresMs).toISOString(), String(e.count), safeText(e.verdict), safeText(e.reason)]);
  const all = [[...TABLE_COLUMNS] as string[], ...rows];
  const widths = TABLE_COLUMNS.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function unblockCommand(io: CliIO): Command {
  const cmd = new Command('unblock')
    .description('lift a simulated block and print the commands that would lift a real one (never runs them)')
    .argument('[ip]', 'the blocked IPv4 or IPv6 address')
    .option('--list', 'list the blocks in force: ip, expires, count, verdict, reason')
    .option('--purge', 'remove expired blocks from blocklist.csv (or the KV store)')
    .addHelpText(
      'after',
      `
The commands (iptables/ip6tables -D with the exact rule the block would have inserted, and
nft delete element) go to stdout, one per line; nothing is run. The address's repeat-offender
count is forgotten too, so a later block starts again at the base duration.
Without a connection option the blocks are this host's blocklist.csv; with one (--host, --port,
--scheme, --user, --password, or SPLUNK_HOST / SPLUNK_PASSWORD), the KV store's soar_blocklist
collection: what every member of a search head cluster sees.

Exit codes:
  0  unblocked (or listed / purged)
  1  the address is not blocked
  2  usage: not a valid IPv4 or IPv6 address, or neither IP, --list nor --purge given;
     with a connection: no Splunk password, an unreadable --ca-file
  3  splunkd refused the credentials or the KV store refused the user
  4  splunkd unreachable, or its TLS certificate not trusted (nothing was sent)
  5  blocklist.csv (or the KV store) could not be read or updated (corrupt, locked, a disk
     error, the KV store down or read-only)
  7  the data directory is unsafe (writable by others, another owner, a link): nothing done`,
    );
  addConnectionOptions(cmd, io.env);
  return cmd.action(async (ip: string | undefined, opts: ConnectionOptions & { list?: boolean; purge?: boolean }) => {
    const failed = (message: string, exitCode: number = UNBLOCK_EXIT.FAILED): void => {
      complain(io, message);
      io.setExitCode(exitCode);
    };
    if (ip === undefined && !opts.list && !opts.purge) {
      complain(io, 'unblock needs an IP address, --list or --purge');
      return io.setExitCode(UNBLOCK_EXIT.USAGE);
    }
    let address: IpAddress | undefined;
    if (ip !== undefined) {
      const parsed = parseIpAddress(ip);
      if (!parsed.ok) {
        complain(io, parsed.error.message);
        return io.setExitCode(UNBLOCK_EXIT.USAGE);
      }
      address = parsed.value;
    }
    const data = safeDataLayout(io);
    if (data === undefined) return;
    const { layout } = data;
    if (!connectionRequested(cmd, io.env)) return io.setExitCode(unblockInFiles(io, layout, address, opts));

    const shared = await cliSharedState(opts, io, layout);
    if (isStateFailure(shared)) return failed(shared.message, shared.exitCode);
    try {
      io.setExitCode(await unblockInState(io, layout, shared, address, opts));
    } finally {
      shared.state.close();
    }
  });
}

/** The change as an incident event for Splunk (this host's events file); failing to write it is a warning, the unblock stands. */
function writeEvents(io: CliIO, layout: DataLayout, kind: 'expired' | 'unblocked', entries: readonly BlockEntry[]): void {
  if (entries.length === 0) return;
  const written = appendEventLines(layout, entries.map((e) => incidentEventLine(blockLapsedEvent(kind, e, Date.now()))).join(''));
  if (!written.ok) complain(io, `warning: ${written.error.message}`);
}

function purgedLine(purged: readonly BlockEntry[]): string {
  return `purged ${purged.length} expired block(s)${purged.length > 0 ? `: ${purged.map((e) => e.address.text).join(' ')}` : ''}\n`;
}

function unblockedNote(io: CliIO, address: IpAddress, removed: BlockEntry, where: string): void {
  complain(
    io,
    `${address.text} removed from the simulated blocklist${where} (${safeText(removed.verdict)}, blocked ${removed.count} time(s), expiry ${new Date(removed.expiresMs).toISOString()}). ` +
      'Simulation only: nothing was run. The commands that would lift a real block follow on stdout.',
  );
}

/** This host's blocklist.csv, exactly as before the KV store. */
function unblockInFiles(io: CliIO, layout: DataLayout, address: IpAddress | undefined, opts: { list?: boolean; purge?: boolean }): number {
  const failed = (message: string): number => {
    complain(io, message);
    return UNBLOCK_EXIT.FAILED;
  };
  let exitCode: number = UNBLOCK_EXIT.OK;
  if (opts.purge) {
    const purged = purgeExpired(layout, Date.now());
    if (!purged.ok) return failed(purged.error.message);
    writeEvents(io, layout, 'expired', purged.value);
    io.stdout.write(purgedLine(purged.value));
  }
  if (address !== undefined) {
    const r = unblockAddress(layout, address);
    if (!r.ok) return failed(r.error.message);
    const removed = r.value.removed;
    if (removed === null) {
      complain(io, `${address.text} is not blocked (not in ${layout.blocklist}); nothing to undo`);
      exitCode = UNBLOCK_EXIT.NOT_BLOCKED;
    } else {
      writeEvents(io, layout, 'unblocked', [removed]);
      unblockedNote(io, address, removed, '');
      for (const c of r.value.commands) io.stdout.write(c + '\n');
    }
  }
  if (opts.list) {
    const blocks = listBlocks(layout, Date.now());
    if (!blocks.ok) return failed(blocks.error.message);
    io.stdout.write(blocks.value.length === 0 ? 'no simulated blocks in force\n' : formatBlockTable(blocks.value));
  }
  return exitCode;
}

/** The KV store's soar_blocklist (what every member sees); the incident events still go to this host's events file. */
async function unblockInState(io: CliIO, layout: DataLayout, shared: CliSharedState, address: IpAddress | undefined, opts: { list?: boolean; purge?: boolean }): Promise<number> {
  const blocklist = shared.state.blocklist;
  const failed = (error: { kind: string; message: string }): number => {
    complain(io, error.message);
    return error.kind === 'invalid_input' ? UNBLOCK_EXIT.FAILED : kvExitCode(error.kind);
  };
  let exitCode: number = UNBLOCK_EXIT.OK;
  if (opts.purge) {
    const purged = await blocklist.purgeExpired(Date.now());
    if (!purged.ok) return failed(purged.error);
    writeEvents(io, layout, 'expired', purged.value);
    io.stdout.write(purgedLine(purged.value));
  }
  if (address !== undefined) {
    const r = await blocklist.unblock(address);
    if (!r.ok) return failed(r.error);
    const removed = r.value.removed;
    if (removed === null) {
      complain(io, `${address.text} is not blocked (not in ${shared.description}, collection ${BLOCKLIST_COLLECTION}); nothing to undo`);
      exitCode = UNBLOCK_EXIT.NOT_BLOCKED;
    } else {
      writeEvents(io, layout, 'unblocked', [removed]);
      unblockedNote(io, address, removed, ` in ${shared.description} (what every cluster member sees)`);
      for (const c of r.value.commands) io.stdout.write(c + '\n');
    }
  }
  if (opts.list) {
    const blocks = await blocklist.list(Date.now());
    if (!blocks.ok) return failed(blocks.error);
    io.stdout.write(blocks.value.length === 0 ? `no simulated blocks in force in ${shared.description}\n` : formatBlockTable(blocks.value));
  }
  return exitCode;
}
