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
import { CliIO, complain, safeDataLayout, UNSAFE_DATA_DIR_EXIT } from './runtime';

export const UNBLOCK_EXIT = { OK: 0, NOT_BLOCKED: 1, USAGE: 2, FAILED: 5, UNSAFE_DATA_DIR: UNSAFE_DATA_DIR_EXIT } as const;

const TABLE_COLUMNS = ['ip', 'expires', 'count', 'verdict', 'reason'] as const;

/** The blocks as an aligned text table (the last column, the reason, unpadded). */
export function formatBlockTable(entries: readonly BlockEntry[]): string {
  const rows = entries.map((e) => [e.address.text, new Date(e.expiresMs).toISOString(), String(e.count), safeText(e.verdict), safeText(e.reason)]);
  const all = [[...TABLE_COLUMNS] as string[], ...rows];
  const widths = TABLE_COLUMNS.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function unblockCommand(io: CliIO): Command {
  return new Command('unblock')
    .description('lift a simulated block and print the commands that would lift a real one (never runs them)')
    .argument('[ip]', 'the blocked IPv4 or IPv6 address')
    .option('--list', 'list the blocks in force: ip, expires, count, verdict, reason')
    .option('--purge', 'remove expired blocks from blocklist.csv')
    .addHelpText(
      'after',
      `
The commands (iptables/ip6tables -D with the exact rule the block would have inserted, and
nft delete element) go to stdout, one per line; nothing is run. The address's repeat-offender
count is forgotten too, so a later block starts again at the base duration.

Exit codes:
  0  unblocked (or listed / purged)
  1  the address is not blocked
  2  usage: not a valid IPv4 or IPv6 address, or neither IP, --list nor --purge given
  5  blocklist.csv could not be read or updated (corrupt, locked, or a disk error)
  7  the data directory is unsafe (writable by others, another owner, a link): nothing done`,
    )
    .action((ip: string | undefined, opts: { list?: boolean; purge?: boolean }) => {
      const failed = (message: string): void => {
        complain(io, message);
        io.setExitCode(UNBLOCK_EXIT.FAILED);
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

      // The change as an incident event for Splunk; failing to write it is a warning, the unblock stands.
      const event = (kind: 'expired' | 'unblocked', entries: readonly BlockEntry[]): void => {
        const written = appendEventLines(layout, entries.map((e) => incidentEventLine(blockLapsedEvent(kind, e, Date.now()))).join(''));
        if (!written.ok) complain(io, `warning: ${written.error.message}`);
      };
      let exitCode: number = UNBLOCK_EXIT.OK;
      if (opts.purge) {
        const purged = purgeExpired(layout, Date.now());
        if (!purged.ok) return failed(purged.error.message);
        event('expired', purged.value);
        io.stdout.write(`purged ${purged.value.length} expired block(s)${purged.value.length > 0 ? `: ${purged.value.map((e) => e.address.text).join(' ')}` : ''}\n`);
      }
      if (address !== undefined) {
        const r = unblockAddress(layout, address);
        if (!r.ok) return failed(r.error.message);
        const removed = r.value.removed;
        if (removed === null) {
          complain(io, `${address.text} is not blocked (not in ${layout.blocklist}); nothing to undo`);
          exitCode = UNBLOCK_EXIT.NOT_BLOCKED;
        } else {
          event('unblocked', [removed]);
          complain(
            io,
            `${address.text} removed from the simulated blocklist (${safeText(removed.verdict)}, blocked ${removed.count} time(s), expiry ${new Date(removed.expiresMs).toISOString()}). ` +
              'Simulation only: nothing was run. The commands that would lift a real block follow on stdout.',
          );
          for (const c of r.value.commands) io.stdout.write(c + '\n');
        }
      }
      if (opts.list) {
        const blocks = listBlocks(layout, Date.now());
        if (!blocks.ok) return failed(blocks.error.message);
        io.stdout.write(blocks.value.length === 0 ? 'no simulated blocks in force\n' : formatBlockTable(blocks.value));
      }
      io.setExitCode(exitCode);
    });
}
