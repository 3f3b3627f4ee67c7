/**
 * `soar-edr authlog FILE...`: failed sshd logins in auth.log files (plain, gzip, or stdin),
 * read as a stream: totals, the top sources and user names, brute-force candidates inside a
 * sliding window, logins that succeeded after failures, and on request every failed attempt
 * as CSV or JSON Lines. A thin shell over src/analysis/authlog.ts.
 */
import { Command } from 'commander';
import { attemptFromAuthEvent } from '../analysis/attempt-export';
import { AuthLogAnalyzer } from '../analysis/authlog';
import { SSH_BRUTE_FORCE_OPTIONS } from '../analysis/bruteforce';
import { createLogClock, FUTURE_TOLERANCE_MS, LogClock, LogClockOptions } from '../analysis/log-clock';
import { readLines } from '../analysis/log-stream';
import { fail, ok, Result } from '../result';
import type { SyslogYear } from './failure-summary';
import { addOutputOptions } from './output-format';
import { addDetectionOptions, ANALYSIS_EXIT, analysisExitHelp, DetectionDefaults, detectionDefaultsHelp, FailureCommandOptions, runFailureCommand } from './failure-command';
import type { CliIO } from './runtime';

export const AUTHLOG_EXIT = ANALYSIS_EXIT;

/** The SSH brute-force detection's defaults (default/macros.conf), which authlog's options start from. */
export const AUTHLOG_DETECTION: DetectionDefaults = {
  options: SSH_BRUTE_FORCE_OPTIONS,
  detection: 'SOAR-EDR - SSH brute force',
  thresholdMacro: 'soar_ssh_bruteforce_threshold',
  windowMacro: 'soar_ssh_bruteforce_window',
  counted: 'failures',
  success: 'an accepted login',
};

interface AuthlogOptions extends FailureCommandOptions {
  year?: string;
  timezone: string;
  allMethods?: boolean;
}

export interface AuthlogDeps {
  /** The current time: syslog lines carry no year, and without --year theirs follows from it. */
  readonly now: () => Date;
}

/**
 * One clock per file (the New Year rollover of a given --year is state that belongs to one
 * file read in order) behind the one clock the analyzer was built with.
 */
class PerFileClock implements LogClock {
  constructor(public current: LogClock) {}
  yearlessToEpochMs(month: number, day: number, hour: number, minute: number, second: number): number {
    return this.current.yearlessToEpochMs(month, day, hour, minute, second);
  }
  wallToEpochMs(year: number, month: number, day: number, hour: number, minute: number, second: number, millis: number): number {
    return this.current.wallToEpochMs(year, month, day, hour, minute, second, millis);
  }
}

/**
 * --year and --timezone as a clock factory; an error names the option. Without --year each
 * line's year follows from `now` (see log-clock's InferredYearOptions); with it, the first
 * line is in that year and the log moves on at New Year.
 */
export function clockFactory(yearText: string | undefined, timeZone: string, now: Date): Result<{ year: SyslogYear; make: () => LogClock }, 'usage'> {
  if (yearText !== undefined && !/^\d{4}$/.test(yearText.trim())) {
    return fail('usage', `--year must be a four-digit year like 2024, not ${JSON.stringify(yearText.slice(0, 40))}`);
  }
  const options: LogClockOptions =
    yearText === undefined ? { readAtMs: now.getTime(), timeZone } : { year: Number(yearText.trim()), timeZone, rollover: true };
  const first = createLogClock(options);
  if (!first.ok) {
    const where = { invalid_time_zone: '--timezone', invalid_year: '--year', invalid_read_time: 'the system clock' }[first.error.kind];
    return fail('usage', `${where}: ${first.error.message}`);
  }
  return ok({
    year: 'year' in options ? { kind: 'given', year: options.year } : { kind: 'inferred', latestMs: options.readAtMs + FUTURE_TOLERANCE_MS },
    make: () => {
      const c = createLogClock(options);
      return c.ok ? c.value : first.value;
    },
  });
}

export function authlogCommand(io: CliIO, deps: AuthlogDeps = { now: () => new Date() }): Command {
  const cmd = new Command('authlog')
    .description('find failed sshd logins and brute force in auth.log files (plain, .gz, or - for stdin), streamed')
    .argument('[file...]', 'auth.log files, rotated .gz files, or - for standard input (default: standard input)');
  addDetectionOptions(cmd, AUTHLOG_DETECTION)
    .option(
      '--year <yyyy>',
      'year of the first syslog line ("Dec 10 06:55:46" has none; a log running past New Year moves on by itself) ' +
        '(default: each line in the year that puts it at most a day after now)',
    )
    .option('--timezone <zone>', 'time zone of syslog times: UTC, +02:00, or an IANA name like Europe/Berlin', 'UTC')
    .option('--all-methods', 'count "Failed none" and "Failed publickey" as attempts too (default: password and keyboard-interactive)')
    .option('--attempts', 'instead of the summary, write every failed attempt: CSV, or JSON Lines with --format json')
    .option('--enrich', 'look the brute-force candidates up with VirusTotal and AbuseIPDB (public addresses only)');
  addOutputOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Counted as failed attempts: "Failed password" and "Failed keyboard-interactive" (with "message
repeated N times" counted N times), and the old RHEL "sshd(pam_unix)" authentication failures.
Give rotated files oldest first (auth.log.2.gz auth.log.1 auth.log).

${detectionDefaultsHelp(AUTHLOG_DETECTION)}

Syslog times have no year. Without --year each line goes in the current year, or in the year
before when that would put it more than a day in the future (a log holds no lines from the
future): December lines read in January land in December of last year, line by line, so a log
running past New Year keeps its order. A log older than a year needs --year (its first line's).

Output: --format table (a text report), csv (one row per source: the top sources and every
brute-force candidate), json (one document with totals, top sources and users, candidates and
successes after failures). --attempts writes time,source,host,address,user,invalid_user,method,
reason,port,count for every failed attempt as it is read (memory stays flat).

${analysisExitHelp(cmd)}`,
  );
  cmd.action((files: string[], opts: AuthlogOptions) =>
    runFailureCommand(io, cmd, files, opts, {
      detection: AUTHLOG_DETECTION,
      check: () => clockFactory(opts.year, opts.timezone, deps.now()),
      analysis: (clocks, brute, attempt) => {
        const clock = new PerFileClock(clocks.make());
        const analyzer = new AuthLogAnalyzer(
          clock,
          brute,
          { countAllMethods: opts.allMethods === true },
          attempt === undefined ? undefined : (ev) => attempt(attemptFromAuthEvent(ev)),
        );
        return {
          reader: {
            recordName: 'lines',
            read: (readable, tally) => {
              clock.current = clocks.make();
              return readLines(readable, (line) => {
                tally.records += 1;
                analyzer.feedLine(line);
              });
            },
            whole: (read) => ({ bytes: read.bytes, gzip: read.gzip, records: read.lines }),
          },
          summarize: () => {
            const summary = analyzer.summarize();
            return {
              failures: summary.failures,
              details: { kind: 'authlog', counts: summary.counts, year: clocks.year, timeZone: opts.timezone },
            };
          },
        };
      },
    }),
  );
  return cmd;
}
