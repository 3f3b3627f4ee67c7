/**
 * `soar-edr block IP --reason TEXT [--for 7d]`: a manual simulated block with the same
 * lifecycle as the alert action's (blocklist.csv, expiry, `soar-edr unblock`), printing the
 * commands a real block would run. Nothing is ever run.
 */
import { Command } from 'commander';
import { classifyAddress } from '../intel/address-gate';
import { parseDuration } from '../pipeline/settings';
import { blockAddress, BlockResult } from '../respond/blocklist';
import { NFT_SETUP_COMMANDS, needsNftSetup } from '../respond/firewall-commands';
import { parseIpAddress } from '../address/ip-address';
import { capLength, safeText } from '../respond/safe-text';
import { fail, ok, Result } from '../result';
import { appDirFor, readHostLimits } from '../splunk/app-conf';
import { cliSharedState, isStateFailure, kvExitCode } from './kvstore-connection';
import { addConnectionOptions, CliIO, complain, ConnectionOptions, connectionRequested, REST_EXIT, safeDataLayout, UNSAFE_DATA_DIR_EXIT } from './runtime';

/** AUTH and UNREACHABLE: splunkd's, with a connection (the KV store); FAILED is the store's, either one. */
export const BLOCK_EXIT = { OK: 0, USAGE: 2, AUTH: REST_EXIT.AUTH, UNREACHABLE: REST_EXIT.UNREACHABLE, FAILED: 5, UNSAFE_DATA_DIR: UNSAFE_DATA_DIR_EXIT } as const;

const MAX_REASON_CHARS = 200;

/**
 * `--for`: a duration of at least 1 s and at most the host's block_max_duration. Above the
 * limit is refused, not clamped: the admin asked for a length the host does not allow, and a
 * block silently shorter than asked would lapse while they think it holds.
 */
export function manualBlockSeconds(text: string, maxSeconds: number): Result<number, 'usage'> {
  const d = parseDuration(text);
  if (!d.ok) return fail('usage', `--for: ${d.error.message}`);
  if (d.value < 1) return fail('usage', '--for must be at least 1s');
  if (d.value > maxSeconds) {
    return fail('usage', `--for ${text.trim()} (${d.value}s) is longer than this host allows (block_max_duration = ${maxSeconds}s in soar_edr.conf [blocking]); give a shorter --for or raise the limit there`);
  }
  return ok(d.value);
}

/** `--reason`: required, one line, capped (it is stored in blocklist.csv and shown in lists). */
export function manualBlockReason(text: string | undefined): Result<string, 'usage'> {
  const t = safeText(text ?? '').trim();
  if (t === '') return fail('usage', 'block needs --reason TEXT (why the address is blocked, kept in blocklist.csv)');
  return ok(`manual: ${capLength(t, MAX_REASON_CHARS)}`);
}

export function blockCommand(io: CliIO): Command {
  const cmd = new Command('block')
    .description('add a manual simulated block (blocklist.csv, or the KV store with a connection option; with expiry) and print the commands a real block would run (never runs them)')
    .argument('<ip>', 'the IPv4 or IPv6 address to block')
    .option('--reason <text>', 'why (required; stored in blocklist.csv as "manual: TEXT")')
    .option('--for <duration>', "how long, e.g. 3600s, 12h, 7d (default: the host's block_duration; at most its block_max_duration)")
    .option('--allow-private', 'also block a private, reserved or otherwise non-public address (the alert param block_private)')
    .addHelpText(
      'after',
      `
The block is recorded in blocklist.csv with verdict MALICIOUS and reason "manual: TEXT",
or, with a connection option (--host, --port, --scheme, --user, --password, or SPLUNK_HOST /
SPLUNK_PASSWORD), in the KV store's soar_blocklist collection: what every member of a search
head cluster sees. It expires by itself, shows in "soar-edr unblock --list" and is lifted by "soar-edr unblock IP".
Blocking an address already blocked renews it (count + 1, the later expiry wins).
The commands (iptables/ip6tables -I and nft add element, with the one-time nft setup) go to
stdout, one per line; nothing is run. The limits come from soar_edr.conf [blocking]
(the app's default/ and local/ inside Splunk, else the data directory's soar_edr.conf).

Exit codes:
  0  blocked (simulated)
  2  usage: not a valid IPv4 or IPv6 address, a private or reserved address without
     --allow-private, no --reason, a bad --for, or a --for above block_max_duration;
     with a connection: no Splunk password, an unreadable --ca-file
  3  splunkd refused the credentials or the KV store refused the user
  4  splunkd unreachable, or its TLS certificate not trusted (nothing was sent)
  5  blocklist.csv (or the KV store) could not be read or updated (corrupt, locked, a disk error,
     the KV store down or read-only)
  7  the data directory is unsafe (writable by others, another owner, a link): nothing done`,
    );
  addConnectionOptions(cmd, io.env);
  return cmd.action(async (ip: string, opts: ConnectionOptions & { reason?: string; for?: string; allowPrivate?: boolean }) => {
    const usage = (message: string): void => {
      complain(io, message);
      io.setExitCode(BLOCK_EXIT.USAGE);
    };
    // Parsed once, by the one address parser (as unblock does): the IpAddress is what every later step takes.
    const parsed = parseIpAddress(ip);
    if (!parsed.ok) return usage(parsed.error.message);
    const address = parsed.value.text;
    // The action's rule: a non-public address is never blocked unless block_private says so.
    const gate = classifyAddress(parsed.value);
    if (!gate.public && !opts.allowPrivate) {
      return usage(`${address} is not public (${gate.reason}): not blocked; pass --allow-private to block it anyway (the alert param block_private)`);
    }
    const reason = manualBlockReason(opts.reason);
    if (!reason.ok) return usage(reason.error.message);

    const data = safeDataLayout(io);
    if (data === undefined) return;
    const { layout } = data;
    const host = readHostLimits(appDirFor(io.env), layout.root);
    for (const p of host.problems) complain(io, `WARN ${p.message}`);
    const seconds = opts.for === undefined ? ok(host.limits.blockSeconds) : manualBlockSeconds(opts.for, host.limits.blockMaxSeconds);
    if (!seconds.ok) return usage(seconds.error.message);

    // base = max = the asked length: a manual block lasts what was asked, repeat or not.
    const policy = { baseSeconds: seconds.value, maxSeconds: seconds.value };
    let result: BlockResult;
    let where = '';
    if (!connectionRequested(cmd, io.env)) {
      // This host's blocklist.csv, exactly as before the KV store.
      const r = blockAddress(layout, parsed.value, 'MALICIOUS', reason.value, Date.now(), policy);
      if (!r.ok) {
        complain(io, r.error.message);
        return io.setExitCode(BLOCK_EXIT.FAILED);
      }
      result = r.value;
    } else {
      const shared = await cliSharedState(opts, io, layout);
      if (isStateFailure(shared)) {
        complain(io, shared.message);
        return io.setExitCode(shared.exitCode);
      }
      try {
        const r = await shared.state.blocklist.block(parsed.value, 'MALICIOUS', reason.value, Date.now(), policy);
        if (!r.ok) {
          complain(io, r.error.message);
          return io.setExitCode(r.error.kind === 'invalid_input' ? BLOCK_EXIT.FAILED : kvExitCode(r.error.kind));
        }
        result = r.value;
        where = ` in ${shared.description} (what every cluster member sees)`;
      } finally {
        shared.state.close();
      }
    }
    const { entry } = result;
    complain(
      io,
      `${address} added to the simulated blocklist${where} until ${new Date(entry.expiresMs).toISOString()} (block #${entry.count}${result.repeat ? ', renewed' : ''}). ` +
        'Simulation only: nothing was run. The commands a real block would run follow on stdout.',
    );
    // As the incident report prints them; the setup as a shell comment line plus commands, so stdout pastes into a shell.
    const commands = needsNftSetup(result.commands)
      ? [...result.commands, '# One-time nftables setup (run once per host, before the nft command above; not needed for iptables):', ...NFT_SETUP_COMMANDS]
      : result.commands;
    for (const c of commands) io.stdout.write(c + '\n');
    io.setExitCode(BLOCK_EXIT.OK);
  });
}
