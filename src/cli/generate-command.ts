/**
 * `soar-edr generate`: attack traffic for the TCP 1514 input (and `npm run attack`). A thin
 * shell over runGenerator: options in, a progress line on a terminal, a summary out.
 */
import { Command } from 'commander';
import { FORMAT_NAMES } from '../generator/formats';
import { parseMoment } from '../generator/moment';
import { nodeGeneratorDeps, runGenerator, type GeneratorSummary } from '../generator/run';
import { NEVER_ENRICHED_SCENARIOS, SCENARIO_NAMES, SCENARIOS } from '../generator/scenarios';
import { describeTarget } from '../generator/tcp-sender';
import type { CliIO } from './runtime';
import { complain } from './runtime';

export const GENERATE_EXIT = { OK: 0, LOST: 1, USAGE: 2 } as const;

interface GenerateOptions {
  scenario: string;
  format: string;
  count?: string;
  duration?: string;
  speed?: string;
  rate?: string;
  backfill?: boolean;
  start?: string;
  end?: string;
  seed?: string;
  family: string;
  host: string;
  port: string;
  dryRun?: boolean;
  out?: string;
  reconnects: string;
}

function wholeNumber(text: string | undefined, name: string): number | string | undefined {
  if (text === undefined) return undefined;
  return /^\d+$/.test(text) ? Number(text) : `--${name} must be a whole number, not ${JSON.stringify(text)}`;
}

function speedFactor(text: string | undefined): number | string | undefined {
  if (text === undefined) return undefined;
  const n = /^(\d+(\.\d*)?|\.\d+)$/.test(text) ? Number(text) : Number.NaN;
  return n > 0 && Number.isFinite(n) ? n : `--speed must be a number > 0 (1 = the scenario's own pace, 60 = a minute of it each second), not ${JSON.stringify(text)}`;
}

/** "90", "90s", "5m" → milliseconds. */
function durationMs(text: string | undefined): number | string | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)(ms|s|m|h)?$/.exec(text);
  if (!m) return `--duration must look like 30s, 5m or 1h, not ${JSON.stringify(text)}`;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

function moment(text: string | undefined, name: string, nowMs: number): number | string | undefined {
  if (text === undefined) return undefined;
  const r = parseMoment(text, nowMs);
  return r.ok ? r.value : `--${name}: ${r.error.message}`;
}

/** how long the first connection may take before the command says what is probably missing */
const CONNECT_HINT_AFTER_MS = 2_000;

const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

const HELP = `
Time (no event is ever stamped later than the moment it is written):
  live (default)  each event is sent when the scenario's clock reaches it and stamped with the
                  moment it is sent; the scenario's own gaps are kept. --speed 60 runs a minute
                  of the attack each second. --rate N instead sends a fixed N events/s (0 = as
                  fast as the connection takes them) for load tests: the scenario's own gaps
                  are not kept.
  --backfill      the scenario's history, written as fast as the target takes it, each event
                  stamped with its place in that history, nothing later than --end (default
                  now; a future --end is refused). With --start the scenario starts there and
                  runs to --end or --count, whichever comes first; without it the last of
                  --count events lands on --end. The same --seed, --start/--end (not relative
                  to now) and --count give byte-identical events.
  --start/--end   now, -30s, -15m, -4h, -2d (before now), or ISO 8601 with Z or an offset,
                  e.g. 2026-12-06T10:00:00Z or 2026-12-06T11:00:00+01:00 (a bare date: 00:00 UTC)

Addresses: --family ipv4 (the default) gives fast-bruteforce, slow-bruteforce, password-spray
  and success-after-failures known-bad public IPv4 addresses, which enrichment (VirusTotal,
  AbuseIPDB) knows. IPv6 addresses (--family ipv6 or any) are documentation space
  (2001:db8::/32) and never enriched. ${NEVER_ENRICHED_SCENARIOS.join(', ')} send
  documentation or private addresses whatever the family: their incidents find no reputation.

Examples:
  soar-edr generate --host 127.0.0.1 --port 1514 --scenario fast-bruteforce --format kv --count 40
      the quick start (npm run attack): 40 guesses from one known-bad address in under a minute
  soar-edr generate --backfill --start -4h --scenario slow-bruteforce --format sshd
      the last 4 hours of a slow brute force (one guess every 95-240 s), written at once
  soar-edr generate --scenario distributed --speed 60 --duration 2m
      two minutes of sending, two hours of a distributed attack

Exit codes: 0 every event sent, 1 events lost (connection gone for good), 2 usage.`;

/** The line ending a run: counts, target, time, and where to look when nothing was listening. */
function summaryText(s: GeneratorSummary): string {
  const history = s.backfill === null ? '' : `, backfilled from ${iso(s.backfill.startMs)} up to ${iso(s.backfill.endMs)}`;
  let text = `soar-edr: ${s.sent} sent, ${s.failed} failed, ${s.reconnects} reconnects to ${s.target} in ${(s.elapsedMs / 1000).toFixed(1)} s (${Math.round(s.ratePerSec)}/s)${history}${s.error ? `: ${s.error.message}` : ''}\n`;
  if (s.error?.kind === 'connect-failed') {
    text +=
      'soar-edr: nothing takes events there. For the Splunk of this repository run `docker compose up -d` ' +
      '(after `cp .env.example .env` and setting SPLUNK_PASSWORD) and wait until `docker compose ps` shows splunk healthy; ' +
      'for another Splunk give its TCP input with --host and --port.\n';
  }
  return text;
}

export function generateCommand(io: CliIO): Command {
  return new Command('generate')
    .description(
      `send simulated attack traffic to a TCP input (Splunk's TCP 1514 input), one event per line over one connection.\nScenarios: ${SCENARIO_NAMES.map((n) => `${n} (${SCENARIOS[n].description})`).join('; ')}`,
    )
    .option('--scenario <name>', `one of ${SCENARIO_NAMES.join(', ')}`, 'fast-bruteforce')
    .option('--format <name>', `one of ${FORMAT_NAMES.join(', ')}`, 'kv')
    .option('--count <n>', 'events to send (default 100, unless --duration is given or a --backfill has a --start)')
    .option('--duration <time>', 'live: send for this long (e.g. 30s, 5m)')
    .option('--speed <factor>', "live: how much faster than real time the scenario's clock runs (default 1; 60 = a minute of the attack each second)")
    .option('--rate <n>', "live, for load tests: a fixed number of events per second instead of the scenario's pace; 0 = as fast as the connection takes them")
    .option('--backfill', "write the scenario's history ending at --end, as fast as the target takes it, instead of sending live")
    .option('--start <time>', 'backfill: when the scenario starts (e.g. -4h, 2026-12-06T10:00:00Z)')
    .option('--end <time>', 'backfill: no event later than this (default now; never in the future)')
    .option('--seed <text>', 'reproducible output: the same seed and options give the same events (default: random, printed)')
    .option('--family <ipv4|ipv6|any>', 'attacker address family (ipv4: known-bad public addresses that enrichment finds)', 'ipv4')
    .option('--host <host>', 'TCP input host', 'localhost')
    .option('--port <port>', 'TCP input port', '1514')
    .option('--dry-run', 'print the events on stdout instead of sending them')
    .option('--out <file>', 'write the events to a file instead of sending them')
    .option('--reconnects <n>', 'connection attempts in a row before giving up (backoff 0.1 s doubling to 5 s)', '10')
    .addHelpText('after', HELP)
    .action(async (opts: GenerateOptions) => {
      const nowMs = Date.now();
      const count = wholeNumber(opts.count, 'count');
      const rate = wholeNumber(opts.rate, 'rate');
      const speed = speedFactor(opts.speed);
      const port = wholeNumber(opts.port, 'port');
      const duration = durationMs(opts.duration);
      const reconnects = wholeNumber(opts.reconnects, 'reconnects');
      const start = moment(opts.start, 'start', nowMs);
      const end = moment(opts.end, 'end', nowMs);
      for (const v of [count, rate, speed, port, duration, reconnects, start, end]) {
        if (typeof v === 'string') {
          complain(io, v);
          return io.setExitCode(GENERATE_EXIT.USAGE);
        }
      }
      if (!opts.backfill && (start !== undefined || end !== undefined)) {
        complain(io, '--start and --end place a --backfill; add --backfill (live sending stamps each event with the moment it is sent)');
        return io.setExitCode(GENERATE_EXIT.USAGE);
      }
      const seed = opts.seed ?? String(Math.floor(Math.random() * 2 ** 31));
      if (opts.seed === undefined) io.stderr.write(`soar-edr: seed ${seed} (repeat this run with --seed ${seed})\n`);
      const tty = Boolean(io.stderr.isTTY);
      let hinted = false;
      const deps = nodeGeneratorDeps({
        ...(opts.dryRun ? { dryRunOutput: io.stdout } : {}),
        onProgress: (p) => {
          // giving up takes some 25 s of retries: say at once what is probably missing
          if (!hinted && !p.connected && p.sent === 0 && p.elapsedMs >= CONNECT_HINT_AFTER_MS) {
            hinted = true;
            io.stderr.write(
              `${tty ? '\n' : ''}soar-edr: no connection to ${describeTarget(opts.host, port as number)} yet, still trying ` +
                "(nothing listening? for this repository's Splunk: docker compose up -d)\n",
            );
          }
          if (tty) {
            io.stderr.write(`\r${p.sent} sent, ${p.failed} failed${p.total !== null ? ` of ${p.total}` : ''}, ${Math.round(p.ratePerSec)}/s${p.connected ? '' : ' (reconnecting)'}   `);
          }
        },
      });
      // a backfill from a start runs to its end unless a count is given
      const defaultCount = duration === undefined && !(opts.backfill && start !== undefined) ? 100 : undefined;
      const result = await runGenerator(
        {
          scenario: opts.scenario,
          format: opts.format,
          seed,
          mode: opts.backfill ? 'backfill' : 'live',
          speed: speed as number | undefined,
          rate: rate as number | undefined,
          startMs: start as number | undefined,
          endMs: end as number | undefined,
          count: (count as number | undefined) ?? defaultCount,
          durationMs: duration as number | undefined,
          addressFamily: opts.family,
          host: opts.host,
          port: port as number,
          dryRun: opts.dryRun,
          outFile: opts.out,
          reconnect: { maxAttempts: Math.max(1, reconnects as number) },
        },
        deps,
      );
      if (tty) io.stderr.write('\n');
      if (!result.ok) {
        complain(io, result.error.message);
        return io.setExitCode(GENERATE_EXIT.USAGE);
      }
      const s = result.value;
      io.stderr.write(summaryText(s));
      io.setExitCode(s.failed > 0 ? GENERATE_EXIT.LOST : GENERATE_EXIT.OK);
    });
}
