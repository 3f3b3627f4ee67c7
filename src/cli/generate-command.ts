/**
 * `soar-edr generate`: attack traffic for the TCP 1514 input (and `npm run attack`). A thin
 * shell over runGenerator: options in, a progress line on a terminal, a summary out.
 */
import { Command } from 'commander';
import { FORMAT_NAMES } from '../generator/formats';
import { nodeGeneratorDeps, runGenerator } from '../generator/run';
import { SCENARIO_NAMES, SCENARIOS } from '../generator/scenarios';
import type { CliIO } from './runtime';
import { complain } from './runtime';

export const GENERATE_EXIT = { OK: 0, LOST: 1, USAGE: 2 } as const;

interface GenerateOptions {
  scenario: string;
  format: string;
  count?: string;
  duration?: string;
  rate: string;
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

/** "90", "90s", "5m" → milliseconds. */
function durationMs(text: string | undefined): number | string | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)(ms|s|m|h)?$/.exec(text);
  if (!m) return `--duration must look like 30s, 5m or 1h, not ${JSON.stringify(text)}`;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

export function generateCommand(io: CliIO): Command {
  return new Command('generate')
    .description(
      `send simulated attack traffic to a TCP input (Splunk's TCP 1514 input), one event per line over one connection.\nScenarios: ${SCENARIO_NAMES.map((n) => `${n} (${SCENARIOS[n].description})`).join('; ')}`,
    )
    .option('--scenario <name>', `one of ${SCENARIO_NAMES.join(', ')}`, 'fast-bruteforce')
    .option('--format <name>', `one of ${FORMAT_NAMES.join(', ')}`, 'kv')
    .option('--count <n>', 'events to send (default 100 unless --duration is given)')
    .option('--duration <time>', 'send for this long (e.g. 30s, 5m)')
    .option('--rate <n>', 'events per second; 0 = as fast as the connection takes them', '50')
    .option('--seed <text>', 'reproducible output: the same seed and options give the same events (default: random, printed)')
    .option('--family <any|ipv4|ipv6>', 'attacker address family', 'any')
    .option('--host <host>', 'TCP input host', 'localhost')
    .option('--port <port>', 'TCP input port', '1514')
    .option('--dry-run', 'print the events on stdout instead of sending them')
    .option('--out <file>', 'write the events to a file instead of sending them')
    .option('--reconnects <n>', 'connection attempts in a row before giving up (backoff 0.1 s doubling to 5 s)', '10')
    .addHelpText('after', '\nExit codes: 0 every event sent, 1 events lost (connection gone for good), 2 usage.')
    .action(async (opts: GenerateOptions) => {
      const count = wholeNumber(opts.count, 'count');
      const rate = wholeNumber(opts.rate, 'rate');
      const port = wholeNumber(opts.port, 'port');
      const duration = durationMs(opts.duration);
      const reconnects = wholeNumber(opts.reconnects, 'reconnects');
      for (const v of [count, rate, port, duration, reconnects]) {
        if (typeof v === 'string') {
          complain(io, v);
          return io.setExitCode(GENERATE_EXIT.USAGE);
        }
      }
      const seed = opts.seed ?? String(Math.floor(Math.random() * 2 ** 31));
      if (opts.seed === undefined) io.stderr.write(`soar-edr: seed ${seed} (repeat this run with --seed ${seed})\n`);
      const tty = Boolean(io.stderr.isTTY);
      const deps = nodeGeneratorDeps({
        ...(opts.dryRun ? { dryRunOutput: io.stdout } : {}),
        ...(tty
          ? {
              onProgress: (p) =>
                io.stderr.write(`\r${p.sent} sent, ${p.failed} failed${p.total !== null ? ` of ${p.total}` : ''}, ${Math.round(p.ratePerSec)}/s${p.connected ? '' : ' (reconnecting)'}   `),
            }
          : {}),
      });
      const result = await runGenerator(
        {
          scenario: opts.scenario,
          format: opts.format,
          seed,
          startMs: Date.now(),
          count: (count as number | undefined) ?? (duration === undefined ? 100 : undefined),
          durationMs: duration as number | undefined,
          rate: rate as number,
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
      io.stderr.write(
        `soar-edr: ${s.sent} sent, ${s.failed} failed, ${s.reconnects} reconnects to ${s.target} in ${(s.elapsedMs / 1000).toFixed(1)} s (${Math.round(s.ratePerSec)}/s)${s.error ? `: ${s.error.message}` : ''}\n`,
      );
      io.setExitCode(s.failed > 0 ? GENERATE_EXIT.LOST : GENERATE_EXIT.OK);
    });
}
