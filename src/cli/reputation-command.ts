/**
 * `soar-edr reputation [IP|DOMAIN|HASH|FILE|-]...`: bulk reputation of addresses, domains
 * and MD5/SHA1/SHA256 hashes through the alert action's own engine (address gate, cache,
 * shared quota limiter, VirusTotal and AbuseIPDB, verdict thresholds), so the command
 * line and Splunk agree about every address.
 *
 * For other commands' `--enrich` (authlog, winlog, iocs):
 *
 *   import { runReputation } from './reputation-command';
 *   const code = await runReputation(io, ['203.0.113.7', 'evil.example', '<sha256>'], { format: 'table' });
 *
 * `runReputation(io, targets, options)` looks the target strings up (invalid ones are
 * reported on stderr as "argument N: …"; duplicates collapse), prints the result table /
 * CSV / JSON to stdout (or options.out), one summary line to stderr, a progress bar on
 * stderr only when it is a terminal, and resolves to an exit code of REPUTATION_EXIT. Keys
 * come from options.secrets or the SOAR_* variables in io.env; params use the alert
 * action's names (options.params, e.g. { vt_requests_per_minute: '4' }). It never throws for
 * a provider problem. `lookupTargets` (reputation-lookup.ts) gives the rows without printing.
 */
import { createReadStream, statSync } from 'node:fs';
import { Command } from 'commander';
import { THRESHOLD_PARAMS, PRESET_PARAM } from '../intel/verdict';
import { clampMessage, DEFAULT_HOST_LIMITS, DEFAULT_SETTINGS, HostLimits, parseDuration, parsePipelineSettings, PipelineSettings } from '../pipeline/settings';
import { appDirFor, HostLimitsRead, readHostLimits } from '../splunk/app-conf';
import type { Secrets, SplunkConnection } from '../splunk/secrets';
import { secretsFromEnv } from '../splunk/secrets';
import { fail, ok, Result } from '../result';
import type { DataLayout } from '../store/data-dir';
import type { FetchFn } from '../intel/http-request';
import { parseParamOptions } from './drain-command';
import { addOutputOptions, Column, OutputFormat, renderRows, writeOutput } from './output-format';
import { classifyArgument, collectStream, formatInvalid, TargetCollector } from './reputation-input';
import { isoSeconds, lookupTargets, ReputationResult, ReputationRow } from './reputation-lookup';
import { progressDisplay, ProgressDisplay } from './reputation-progress';
import { addConnectionOptions, CliIO, complain, safeDataLayout, connectionFrom, ConnectionOptions, connectionRequested, resolveCliSecrets, restExitCode } from './runtime';

/**
 * When several apply, the first of NO_KEY, FAILED, DEFERRED, INVALID_INPUT wins.
 * USAGE and the splunkd codes end the run before any lookup.
 */
export const REPUTATION_EXIT = {
  /** Every target answered (from a request or the cache) or skipped by the address gate. */
  OK: 0,
  /** Some lookups failed (key refused, provider error, unreadable answer); the rows say which. */
  FAILED: 1,
  /** Usage: a bad option or param, an unreadable file, no target given. */
  USAGE: 2,
  /** Quota: some targets were deferred (or the run was interrupted); run again to resume from the cache. */
  DEFERRED: 3,
  /** No API key for some or all targets (none at all, or domains/hashes without a VirusTotal key). */
  NO_KEY: 4,
  /** Some input lines or arguments were not an IP, domain or hash (reported on stderr); the rest were looked up. */
  INVALID_INPUT: 5,
  /** The data directory (cache, quota state) is unsafe: 7 elsewhere, taken here by the splunkd codes. Nothing was looked up. */
  UNSAFE_DATA_DIR: 9,
} as const;

/**
 * splunkd failures while reading storage/passwords (only with connection options): drain's
 * REST codes 3/4/5 moved past ours, since 3-5 mean something else here.
 */
const REST_EXIT_OFFSET = 3;

/** The alert action's params that bear on a lookup (alert_actions.conf names). */
export const REPUTATION_PARAMS: readonly string[] = [
  'allowlist',
  PRESET_PARAM,
  ...THRESHOLD_PARAMS.map((p) => p.name),
  'cache_ttl',
  'vt_requests_per_minute',
  'vt_requests_per_day',
  'abuseipdb_requests_per_day',
  'request_timeout',
];

export const DEFAULT_MAX_WAIT = '30m';
const DEFAULT_MAX_WAIT_MS = 30 * 60 * 1000;

/** The outside world of a run; tests pass loopback stubs, a temporary data dir and a clock. */
export interface ReputationWorld {
  readonly layout: DataLayout;
  readonly fetch: FetchFn;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  /** Default: a bar on io.stderr when it is a terminal (progressDisplay). */
  readonly progress: ProgressDisplay;
}

export interface ReputationRunOptions {
  /** Default 'table'. */
  readonly format?: OutputFormat;
  /** Write the output to this file (atomically) instead of stdout. */
  readonly out?: string;
  /** Alert params by their alert_actions.conf names (REPUTATION_PARAMS); others are a usage error. */
  readonly params?: Readonly<Record<string, string>>;
  /** How long the run may wait for quota slots, ms from its start; 0 never waits. Default 30 min. */
  readonly maxWaitMs?: number;
  /** API keys; default: SOAR_VIRUSTOTAL_API_KEY / SOAR_ABUSEIPDB_API_KEY from io.env. */
  readonly secrets?: Secrets;
  /** Abort to stop waiting: the rest is listed as deferred. */
  readonly signal?: AbortSignal;
  readonly world?: Partial<ReputationWorld>;
  /** The host's limits; default: the app's soar_edr.conf under $SPLUNK_HOME, else the shipped ones. */
  readonly hostLimits?: HostLimitsRead;
}

export interface ReputationCounts {
  readonly looked_up: number;
  readonly cached: number;
  readonly skipped: number;
  readonly deferred: number;
  readonly failed: number;
  readonly no_key: number;
}

const num = (header: string, value: (r: ReputationRow) => number | null, key = header): Column<ReputationRow> => ({ header, key, value, numeric: true });

/** The output columns, in order (JSON keys are the headers). */
export const REPUTATION_COLUMNS: readonly Column<ReputationRow>[] = [
  { header: 'target', value: (r) => r.target },
  { header: 'type', value: (r) => r.type },
  { header: 'verdict', value: (r) => r.verdict },
  { header: 'status', value: (r) => r.status },
  { header: 'reason', value: (r) => r.reason },
  num('malicious', (r) => r.malicious),
  num('suspicious', (r) => r.suspicious),
  num('harmless', (r) => r.harmless),
  num('undetected', (r) => r.undetected),
  num('reputation', (r) => r.reputation),
  num('abuse_score', (r) => r.abuseScore),
  { header: 'country', value: (r) => r.country },
  { header: 'as_owner', value: (r) => r.asOwner },
];

export function countRows(rows: readonly ReputationRow[]): ReputationCounts {
  const counts = { looked_up: 0, cached: 0, skipped: 0, deferred: 0, failed: 0, no_key: 0 };
  for (const r of rows) counts[r.status]++;
  return counts;
}

/** The exit code for a finished run (see REPUTATION_EXIT). Pure. */
export function reputationExitCode(rows: readonly ReputationRow[], invalidInputs: number): number {
  const c = countRows(rows);
  if (c.no_key > 0) return REPUTATION_EXIT.NO_KEY;
  if (c.failed > 0) return REPUTATION_EXIT.FAILED;
  if (c.deferred > 0) return REPUTATION_EXIT.DEFERRED;
  if (invalidInputs > 0) return REPUTATION_EXIT.INVALID_INPUT;
  return REPUTATION_EXIT.OK;
}

/** The stderr summary, e.g. "reputation: 10 targets: 4 looked up, 0 cached, …; requests: VirusTotal 4, AbuseIPDB 0". Pure. */
export function summaryLine(result: ReputationResult, invalid: number, duplicates: number): string {
  const c = countRows(result.rows);
  const parts = [
    `reputation: ${result.rows.length} target${result.rows.length === 1 ? '' : 's'}: ${c.looked_up} looked up, ${c.cached} cached, ${c.skipped} skipped, ${c.deferred} deferred, ${c.failed} failed, ${c.no_key} without key`,
    `requests: VirusTotal ${result.requests.virustotal}, AbuseIPDB ${result.requests.abuseipdb}`,
  ];
  if (invalid > 0 || duplicates > 0) parts.push(`input: ${invalid} invalid, ${duplicates} duplicate${duplicates === 1 ? '' : 's'}`);
  if (c.deferred > 0) {
    const retry = result.rows.map((r) => r.retryAtMs).filter((t): t is number => t !== null);
    const when = retry.length > 0 ? ` after ${isoSeconds(Math.min(...retry))}` : '';
    parts.push(`run again${when} to look up the ${c.deferred} deferred (answers so far are cached)`);
  }
  return parts.join('; ');
}

/**
 * The params as the pipeline reads them, within the host's limits, or what is wrong (unknown
 * names, bad values). `warnings`: params above the host's limit (clamped to it).
 */
export function reputationSettings(
  params: Readonly<Record<string, string>>,
  host: HostLimits = DEFAULT_HOST_LIMITS,
): Result<{ settings: PipelineSettings; warnings: string[] }, 'usage'> {
  const unknown = Object.keys(params).filter((k) => !REPUTATION_PARAMS.includes(k));
  if (unknown.length > 0) {
    return fail('usage', `--param ${unknown.join(', ')}: not a param reputation uses; it takes ${REPUTATION_PARAMS.join(', ')}`);
  }
  const { settings, problems, clamped } = parsePipelineSettings(params, host);
  // On the command line a bad value is a mistake to fix now, not a default to fall back on.
  if (problems.length > 0) return fail('usage', problems.map((p) => p.message.replace(/; using .*$/, '')).join('; '));
  return ok({ settings, warnings: clamped.map(clampMessage) });
}

function readableFile(p: string): boolean {
  try {
    const st = statSync(p);
    return st.isFile() || st.isFIFO() || st.isCharacterDevice();
  } catch {
    return false;
  }
}

function systemWorld(io: CliIO, layout: DataLayout): ReputationWorld {
  return {
    layout,
    fetch: globalThis.fetch,
    now: Date.now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
    random: Math.random,
    progress: progressDisplay(io.stderr),
  };
}

/** The shared tail of the command and of runReputation: targets collected, now look up and print. */
async function runCollected(io: CliIO, collector: TargetCollector, options: ReputationRunOptions): Promise<number> {
  for (const entry of collector.invalid) complain(io, formatInvalid(entry));
  const secrets = options.secrets ?? secretsFromEnv(io.env);
  const keys = { virustotal: secrets.virustotal_api_key, abuseipdb: secrets.abuseipdb_api_key };
  // Without a key the run still goes on: private and reserved targets are reported as skipped
  // (nothing had to leave the host), the rest as without key, and the exit code says so.
  if (!keys.virustotal && !keys.abuseipdb && collector.targets.length > 0) {
    complain(io, 'no VirusTotal or AbuseIPDB key: set SOAR_VIRUSTOTAL_API_KEY (and SOAR_ABUSEIPDB_API_KEY for AbuseIPDB), or store them in Splunk with `soar-edr secrets set virustotal_api_key` and pass the connection options');
  }
  let layout = options.world?.layout;
  if (layout === undefined) {
    // The cache and quota state are written in the data directory: the same check as the alert action's.
    const data = safeDataLayout(io);
    if (data === undefined) return REPUTATION_EXIT.UNSAFE_DATA_DIR;
    layout = data.layout;
  }
  // Under Splunk (SPLUNK_HOME set) the host's limits are the app's soar_edr.conf; outside it,
  // <data directory>/soar_edr.conf when there is one, else the shipped ones.
  const host = options.hostLimits ?? readHostLimits(appDirFor(io.env), layout.root);
  for (const p of host.problems) complain(io, p.message);
  const parsed = reputationSettings(options.params ?? {}, host.limits);
  if (!parsed.ok) {
    complain(io, parsed.error.message);
    return REPUTATION_EXIT.USAGE;
  }
  for (const w of parsed.value.warnings) complain(io, w);
  const settings = parsed.value.settings;
  const world = { ...systemWorld(io, layout), ...options.world };
  const startMs = world.now();
  const progress = world.progress;
  const result = await lookupTargets(collector.targets, {
      settings,
      keys,
      layout: world.layout,
      env: io.env,
      fetch: world.fetch,
      now: world.now,
      sleep: world.sleep,
      random: world.random,
      waitUntilMs: startMs + Math.max(0, options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS),
      progress,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const written = await writeOutput(io, options.out, renderRows(options.format ?? 'table', REPUTATION_COLUMNS, result.rows));
  io.stderr.write(`${summaryLine(result, collector.invalid.length, collector.duplicates)}\n`);
  if (!written.ok) {
    complain(io, written.error.message);
    return REPUTATION_EXIT.FAILED;
  }
  return reputationExitCode(result.rows, collector.invalid.length);
}

/** Look `targets` up and print them; see the file comment. Resolves to a REPUTATION_EXIT code. */
export async function runReputation(io: CliIO, targets: readonly string[], options: ReputationRunOptions = {}): Promise<number> {
  const collector = new TargetCollector();
  targets.forEach((t, i) => collector.add(t, { source: 'argument', line: i + 1 }));
  return runCollected(io, collector, options);
}

interface ReputationOptions extends ConnectionOptions {
  format: OutputFormat;
  out?: string;
  param?: string[];
  allowlist?: string;
  cacheTtl?: string;
  maxWait?: string;
  wait: boolean;
}

const HELP = `
Targets: IPv4/IPv6 addresses, domains, MD5/SHA1/SHA256 hashes, files holding one per line
(blank lines and # comments ignored), or - for stdin. Duplicates are looked up once
(::ffff:1.2.3.4 is 1.2.3.4); defanged forms (1.2.3[.]4, evil[.]com) are accepted. An argument
naming an existing file is read as a file. Invalid lines are reported on stderr as FILE:LINE.

Private, reserved and allowlisted addresses, and names under internal top-level domains
(.local, .internal, .lan, ...), are never sent out: they get a row with status "skipped" and
the reason. Addresses go to VirusTotal and (with its key) AbuseIPDB; domains and hashes to
VirusTotal. Verdicts use the alert action's thresholds (change them with --param, e.g.
--param vt_malicious_threshold=5 or --param verdict_preset=seed-compatible).

Quota and resume: every request takes a slot of the host's shared budget (the alert action
uses the same one; default VirusTotal 4/min and 500/day, AbuseIPDB 1000/day; a premium key:
--param vt_requests_per_minute=N). When it is spent the run waits for the next slot up to
--max-wait (default ${DEFAULT_MAX_WAIT}), showing a progress bar and an ETA that counts the waits
when stderr is a terminal; --no-wait lists the rest at once as "deferred: quota". Answers are
cached (default 24h, --cache-ttl), so running the same command again asks only for what is
missing. Ctrl-C stops waiting and prints what is known.

Columns: target, type, verdict, status (looked_up, cached, skipped, deferred, failed,
no_key), reason, malicious, suspicious, harmless, undetected (VirusTotal engines),
reputation (VirusTotal community score), abuse_score (AbuseIPDB 0-100), country, as_owner.

Keys: SOAR_VIRUSTOTAL_API_KEY / SOAR_ABUSEIPDB_API_KEY, or storage/passwords (realm soar_edr)
when a connection option or SPLUNK_HOST / SPLUNK_PASSWORD is given. Data (cache, quota
state): $SOAR_DATA_DIR, as for the alert action.

Exit codes (when several apply: 4, then 1, then 3, then 5):
  0  every target answered (request or cache) or skipped by the address gate
  1  some lookups failed (key refused, provider error), or --out could not be written
  2  usage: a bad option or param, an unreadable file (also --ca-file), no target given
  3  quota: some targets deferred (or interrupted); run again later to resume
  4  no API key (none at all, or domains/hashes without a VirusTotal key)
  5  some input lines were invalid (reported on stderr); everything else was looked up
  6  splunkd refused the credentials or the permission (storage/passwords)
  7  splunkd unreachable, or its TLS certificate not trusted (nothing was sent)
  8  other splunkd REST failure
  9  the data directory is unsafe (writable by others, another owner, a link): nothing looked up

Examples:
  soar-edr reputation 185.220.101.33 8.8.8.8 tawuhoju.com 546bb6ef89bebfb053999777f6930d7e
  soar-edr reputation suspicious-ips.txt --format csv --out verdicts.csv
  grep -oE '([0-9]{1,3}\\.){3}[0-9]{1,3}' auth.log | soar-edr reputation - --no-wait`;

export function reputationCommand(io: CliIO): Command {
  const cmd = new Command('reputation')
    .description('bulk reputation of IP addresses, domains and file hashes (VirusTotal, AbuseIPDB) with the alert action\'s gate, cache, quota and verdict')
    .argument('[targets...]', 'IP, domain, MD5/SHA1/SHA256, a file of them (one per line), or - for stdin');
  addOutputOptions(cmd);
  cmd
    .option('--param <key=value>', `an alert param (repeatable): ${REPUTATION_PARAMS.join(', ')}`, (v: string, all: string[] | undefined) => [...(all ?? []), v])
    .option('--allowlist <cidrs>', 'addresses never looked up, e.g. 10.0.0.0/8,203.0.113.7 (param allowlist)')
    .option('--cache-ttl <duration>', `reuse answers younger than this, e.g. 1h; 0 asks again (param cache_ttl, default ${DEFAULT_SETTINGS.cacheTtlSeconds / 3600}h)`)
    .option('--max-wait <duration>', `wait for quota slots until this long after the start, e.g. 5m (default ${DEFAULT_MAX_WAIT})`)
    .option('--no-wait', 'never wait for quota: list what is left as "deferred: quota" (exit 3)');
  addConnectionOptions(cmd, io.env);
  cmd.addHelpText('after', HELP);
  cmd.action(async (args: string[], opts: ReputationOptions) => {
    const usage = (message: string): void => {
      complain(io, message);
      io.setExitCode(REPUTATION_EXIT.USAGE);
    };
    if (args.length === 0) return usage('give IP addresses, domains, hashes, files of them, or - to read stdin (soar-edr reputation --help)');
    const params = parseParamOptions(opts.param ?? []);
    if (!params.ok) return usage(params.error.message);
    if (opts.allowlist !== undefined) params.value.allowlist = opts.allowlist;
    if (opts.cacheTtl !== undefined) params.value.cache_ttl = opts.cacheTtl;
    let maxWaitMs = 0;
    if (opts.wait) {
      const d = parseDuration(opts.maxWait ?? DEFAULT_MAX_WAIT);
      if (!d.ok) return usage(`--max-wait: ${d.error.message}`);
      maxWaitMs = d.value * 1000;
    }

    const collector = new TargetCollector();
    let stdinRead = false;
    for (let i = 0; i < args.length; i++) {
      const arg = args[i];
      const kind = classifyArgument(arg, readableFile);
      if (kind.kind === 'missing_file') return usage(kind.message);
      if (kind.kind === 'target') {
        collector.add(arg, { source: 'argument', line: i + 1 });
        continue;
      }
      if (kind.kind === 'stdin') {
        if (stdinRead) continue;
        stdinRead = true;
        await collectStream(io.stdin, '<stdin>', collector);
        continue;
      }
      try {
        await collectStream(createReadStream(kind.path), kind.path, collector);
      } catch (e) {
        return usage(`cannot read ${kind.path}: ${(e as Error).message}`);
      }
    }

    let secrets: Secrets | undefined;
    if (connectionRequested(cmd, io.env)) {
      const conn = await connectionFrom(opts, io);
      if (typeof conn === 'string') return usage(conn);
      const resolved = await resolveCliSecrets(conn as SplunkConnection, io.env);
      if (!resolved.ok) {
        complain(io, resolved.error.message);
        return io.setExitCode(restExitCode(resolved.error.kind) + REST_EXIT_OFFSET);
      }
      secrets = resolved.value.values;
    }

    // Ctrl-C once: stop waiting and print what is known (a second one ends the process as usual).
    const abort = new AbortController();
    const onInterrupt = (): void => abort.abort();
    process.once('SIGINT', onInterrupt);
    try {
      const code = await runCollected(io, collector, {
        format: opts.format,
        ...(opts.out !== undefined ? { out: opts.out } : {}),
        params: params.value,
        maxWaitMs,
        ...(secrets ? { secrets } : {}),
        signal: abort.signal,
      });
      io.setExitCode(code);
    } finally {
      process.removeListener('SIGINT', onInterrupt);
    }
  });
  return cmd;
}
