/**
 * What `soar-edr authlog` and `soar-edr winlog` share around their different readers: the
 * shared options and their checks, the exit codes, the --attempts output, reading the inputs,
 * the optional reputation lookup of the candidates, and writing the report.
 */
import type { Command } from 'commander';
import { fail, ok, Result } from '../result';
import { InputReader, inputNames, readInputs, usageComplaint } from './analysis-input';
import { FailedAttemptRow, failedAttemptCsvHeader, failedAttemptCsvLine, failedAttemptJsonLine } from '../analysis/attempt-export';
import type { BruteForceOptions, FailureSummary } from '../analysis/bruteforce';
import { lookUpReputation, ReputationRecord, verdictText } from './enrich-summary';
import { failureOptionText, failureReportPieces, FailureOptionText, FailureReport, hasFindings, parseFailureOptions, SourceReputation } from './failure-summary';
import { CellValue, fileOutput, groupedCount, OutputFormat, stdoutOutput, StreamedOutput, writeOutput } from './output-format';
import type { CliIO } from './runtime';
import { complain } from './runtime';
import { useStreamingHeap } from './streaming-heap';

/**
 * Scanner-style exit codes: 0 means "nothing to look at", so `soar-edr authlog auth.log || alert`
 * works. When several apply: 4, then 3, then 5, then 1.
 */
export const ANALYSIS_EXIT = {
  /** Read everything; no brute-force candidate and no success after failures. */
  CLEAN: 0,
  /** At least one brute-force candidate or one login that succeeded after failures. */
  FINDINGS: 1,
  /** A command-line mistake; nothing was read. */
  USAGE: 2,
  /** An input could not be read (completely); the report covers what was read. */
  UNREADABLE: 3,
  /** The output (--out FILE, or stdout) could not be written. */
  OUTPUT_FAILED: 4,
  /** --enrich could not look up every candidate (no key, quota, provider down); the report says which. */
  ENRICH_INCOMPLETE: 5,
} as const;

/**
 * The exit codes as `--help` shows them. The usage line names the options `cmd` has that take
 * a value (but --out, whose failure is exit 4), so each command lists only its own.
 */
export function analysisExitHelp(cmd: Command): string {
  const valued = cmd.options.filter((o) => (o.required || o.optional) && o.long !== undefined && o.long !== '--out').map((o) => o.long!);
  const lines: string[] = [];
  for (const name of valued) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last]!.length + 1 + name.length <= 80) lines[last] += ` ${name}`;
    else lines.push(name);
  }
  return `Exit codes (like a scanner: 0 means nothing to look at; when several apply: 4, 3, 5, 1):
  0  no brute-force candidate and no login that succeeded after failures
  1  findings: at least one brute-force candidate or success after failures
  2  usage: an unknown option, "-" given twice, or a bad value of
${lines.map((l) => `     ${l}`).join('\n')}
  3  an input could not be read (missing, unreadable, damaged gzip, not an export);
     the report covers the inputs that were read
  4  the output could not be written (--out FILE)
  5  --enrich could not look up every candidate (the report shows which)`;
}

/** The detection a command's defaults come from, and the words its options' help needs. */
export interface DetectionDefaults {
  /** The shipped detection's options (src/analysis/bruteforce.ts). */
  readonly options: BruteForceOptions;
  /** The saved search (default/savedsearches.conf) and its threshold and window macros. */
  readonly detection: string;
  readonly thresholdMacro: string;
  readonly windowMacro: string;
  /** What the threshold counts, after "more than N": "failures" or "failures against one account". */
  readonly counted: string;
  /** What a success is: "an accepted login", "a 4624 logon". */
  readonly success: string;
}

/** --threshold, --window, --success-after, --success-window and --top, defaulting to the detection's values. */
export function addDetectionOptions(cmd: Command, d: DetectionDefaults): Command {
  const text = failureOptionText(d.options);
  return cmd
    .option('--threshold <n>', `a source is a brute-force candidate when more than this many ${d.counted} fall within one --window`, text.threshold)
    .option('--window <time>', 'width of the sliding window: 90 (seconds), 90s, 15m, 1h, 1d', text.window)
    .option('--success-after <n>', `report ${d.success} whose source failed more than this many times within --success-window before it`, text.successAfter)
    .option('--success-window <time>', "how far before a success its source's failures count", text.successWindow)
    .option('--top <n>', 'how many sources and user names the top lists show', text.top);
}

/** Where the defaults come from, what they mean on a file, and how to match tuned macros. */
export function detectionDefaultsHelp(d: DetectionDefaults): string {
  const text = failureOptionText(d.options);
  const flags = [`--threshold ${text.threshold} --window ${text.window}`, `--success-after ${text.successAfter} --success-window ${text.successWindow}`];
  const width = Math.max(...flags.map((f) => f.length)) + 2;
  const row = (flag: string, search: string, macros: string): string => `  ${flag.padEnd(width)}"${search}"\n  ${' '.repeat(width)}(${macros})`;
  return `Defaults are the app's detections' (default/macros.conf), so this command and Splunk agree:
${row(flags[0]!, d.detection, `${d.thresholdMacro}, ${d.windowMacro}`)}
${row(flags[1]!, COMPROMISE_DETECTION, 'soar_compromise_failure_threshold, soar_compromise_window')}
A detection counts the last ${text.window} each time it runs; over a file the window slides through the
whole log: a source is a candidate when more than ${text.threshold} ${d.counted} fall within ANY ${text.window}.
If the macros were tuned in local/macros.conf, pass the same values (e.g. --threshold 20 --window 30m).`;
}

/** The saved search both commands' --success-after and --success-window follow. */
const COMPROMISE_DETECTION = 'SOAR-EDR - Successful login after failures';

export type AttemptsMode = 'csv' | 'json';

/** --attempts writes CSV, or JSON Lines under --format json; a table cannot be streamed. */
export function attemptsMode(cmd: Command, opts: { attempts?: boolean; format: OutputFormat; enrich?: boolean }): Result<AttemptsMode | null, 'usage'> {
  if (opts.attempts !== true) return ok(null);
  if (opts.enrich === true) return fail('usage', '--enrich looks up the summary\'s candidates; it cannot be combined with --attempts');
  if (opts.format === 'json') return ok('json');
  if (opts.format === 'table' && cmd.getOptionValueSource('format') === 'cli') {
    return fail('usage', '--attempts writes CSV or JSON Lines (--format csv or --format json), not a table');
  }
  return ok('csv');
}

/** The --attempts output (stdout or --out FILE) with the CSV header written; null without --attempts. */
export function openAttemptOutput(io: CliIO, mode: AttemptsMode | null, out: string | undefined): Result<StreamedOutput | null, 'output-failed'> {
  if (mode === null) return ok(null);
  const opened = out === undefined ? ok(stdoutOutput(io.stdout)) : fileOutput(out);
  if (opened.ok && mode === 'csv') opened.value.write(`${failedAttemptCsvHeader()}\r\n`);
  return opened;
}

/** One --attempts line with its line end (CRLF for CSV as RFC 4180 and renderCsv write it, LF for JSON Lines). */
export function attemptLine(mode: AttemptsMode, row: FailedAttemptRow): string {
  return mode === 'json' ? `${failedAttemptJsonLine(row)}\n` : `${failedAttemptCsvLine(row)}\r\n`;
}

/**
 * The addresses --enrich hands to reputation: every brute-force candidate that is an IP
 * literal. Private, loopback and reserved ones go too, so the report shows the address
 * gate's reason for keeping them here (the gate, not this list, decides what leaves the
 * host); host names from PAM's rhost= are not domains anyone registered, so they stay out.
 */
export function enrichTargets(f: FailureSummary): string[] {
  return f.bruteForce.filter((s) => s.scope !== 'hostname' && s.scope !== 'invalid').map((s) => s.address);
}

/** Reputation rows as the summary shows them next to each source. */
export function sourceReputation(rows: ReadonlyMap<string, ReputationRecord>): Map<string, SourceReputation> {
  const out = new Map<string, SourceReputation>();
  for (const [target, row] of rows) {
    const details: Record<string, CellValue> = {};
    for (const [k, v] of Object.entries(row)) if (k !== 'target') details[k] = v;
    out.set(target, { verdict: verdictText(row), reason: typeof row.reason === 'string' ? row.reason : '', details });
  }
  return out;
}

export interface FailureRun {
  readonly format: OutputFormat;
  readonly out: string | undefined;
  readonly enrich: boolean;
  /** The --attempts output, when that was asked for instead of the summary. */
  readonly attempts: StreamedOutput | null;
  readonly attemptRows: number;
  readonly report: FailureReport;
}

/** Writes the report (or finishes the --attempts output) and sets the exit code. */
export async function finishFailureCommand(io: CliIO, run: FailureRun): Promise<void> {
  const report = run.report;
  const unreadable = report.inputs.some((i) => i.error !== null);
  let exit: number = hasFindings(report.failures) ? ANALYSIS_EXIT.FINDINGS : ANALYSIS_EXIT.CLEAN;
  let enrichIncomplete = false;
  if (run.attempts !== null) {
    const done = await run.attempts.finish();
    if (!done.ok) {
      complain(io, done.error.message);
      return io.setExitCode(ANALYSIS_EXIT.OUTPUT_FAILED);
    }
    if (run.out !== undefined) {
      complain(io, `wrote ${groupedCount(run.attemptRows)} failed-attempt rows (${groupedCount(report.failures.totalFailures)} attempts) to ${run.out}`);
    }
  } else {
    let enriched = report;
    if (run.enrich) {
      const lookup = await lookUpReputation(io, enrichTargets(report.failures));
      enriched = { ...report, reputation: sourceReputation(lookup.rows) };
      if (lookup.exitCode !== 0) enrichIncomplete = true;
    }
    const written = await writeOutput(io, run.out, failureReportPieces(run.format, enriched));
    if (!written.ok) {
      complain(io, written.error.message);
      return io.setExitCode(ANALYSIS_EXIT.OUTPUT_FAILED);
    }
  }
  if (enrichIncomplete) exit = ANALYSIS_EXIT.ENRICH_INCOMPLETE;
  if (unreadable) exit = ANALYSIS_EXIT.UNREADABLE;
  io.setExitCode(exit);
}

/** The options both commands have. */
export interface FailureCommandOptions extends FailureOptionText {
  format: OutputFormat;
  out?: string;
  attempts?: boolean;
  enrich?: boolean;
}

/** One run's analysis: how it reads each input, and what it found after the last one. */
export interface FailureAnalysis<S> {
  readonly reader: InputReader<S>;
  summarize(): Pick<FailureReport, 'failures' | 'details'>;
}

/** What one command adds to the run both share. */
export interface FailureCommandSpec<C, S> {
  /** The detection whose options the shared ones override (per-account counting comes from it alone). */
  readonly detection: DetectionDefaults;
  /** Checks the options only this command has (after the shared ones); a failure is a usage mistake. */
  check(): Result<C>;
  /** The analysis for this run; `attempt` writes one --attempts row, and is undefined without --attempts. */
  analysis(checked: C, brute: BruteForceOptions, attempt: ((row: FailedAttemptRow) => void) | undefined): FailureAnalysis<S>;
}

/**
 * A whole `authlog` or `winlog` run: the options checked (nothing is read after a usage
 * mistake), the --attempts output opened, every input read, then the report written and the
 * exit code set by finishFailureCommand.
 */
export async function runFailureCommand<C, S>(
  io: CliIO,
  cmd: Command,
  files: readonly string[],
  opts: FailureCommandOptions,
  spec: FailureCommandSpec<C, S>,
): Promise<void> {
  useStreamingHeap();
  const usage = usageComplaint(io, ANALYSIS_EXIT.USAGE);
  const names = inputNames(files, Boolean(io.stdin.isTTY));
  if (!names.ok) return usage(names.error.message);
  const brute = parseFailureOptions(opts, spec.detection.options);
  if (!brute.ok) return usage(brute.error.message);
  const checked = spec.check();
  if (!checked.ok) return usage(checked.error.message);
  const mode = attemptsMode(cmd, opts);
  if (!mode.ok) return usage(mode.error.message);

  const attemptOutput = openAttemptOutput(io, mode.value, opts.out);
  if (!attemptOutput.ok) {
    complain(io, attemptOutput.error.message);
    return io.setExitCode(ANALYSIS_EXIT.OUTPUT_FAILED);
  }
  const attempts = attemptOutput.value;
  const attemptFormat = mode.value;
  let attemptRows = 0;
  const attempt =
    attempts === null || attemptFormat === null
      ? undefined
      : (row: FailedAttemptRow): void => {
          attemptRows += 1;
          attempts.write(attemptLine(attemptFormat, row));
        };
  const report = await analyzeInputs(io, names.value, () => spec.analysis(checked.value, brute.value, attempt), attempts);
  await finishFailureCommand(io, {
    format: opts.format,
    out: opts.out,
    enrich: opts.enrich === true,
    attempts,
    attemptRows,
    report,
  });
}

/**
 * Reads every input into a new analysis and returns its report. A function of its own so
 * that nothing holds the analysis once it returns: its per-source state (over 20 MB on a
 * gigabyte log) is then garbage, and the report of thousands of candidates is rendered in
 * the memory it frees instead of on top of it.
 */
async function analyzeInputs<S>(
  io: CliIO,
  names: readonly string[],
  start: () => FailureAnalysis<S>,
  attempts: StreamedOutput | null,
): Promise<FailureReport> {
  const analysis = start();
  const inputs = await readInputs(io, names, analysis.reader, () => attempts?.waitForOutput() ?? null);
  return { inputs, ...analysis.summarize() };
}
