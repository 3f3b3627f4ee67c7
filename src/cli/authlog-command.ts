/**
 * `soar-edr authlog FILE...`: failed sshd logins in auth.log files (plain, gzip, or stdin),
 * read as a stream: totals, the top sources and user names, brute-force candidates inside a
 * sliding window, logins that succeeded after failures, and on request every failed attempt
 * as CSV or JSON Lines. A thin shell over src/analysis/authlog.ts.
 */
import { Command } from 'commander';
import { attemptFromAuthEvent } from '../analysis/attempt-export';
import { AuthLogAnalyzer } from '../analysis/authlog';
import { createLogClock, LogClock } from '../analysis/log-clock';
import { readLines } from '../analysis/log-stream';
import { fail, ok, Result } from '../result';
import { DEFAULT_FAILURE_OPTION_TEXT } from './failure-summary';
import { addOutputOptions } from './output-format';
import { ANALYSIS_EXIT, ANALYSIS_EXIT_HELP, FailureCommandOptions, runFailureCommand } from './failure-command';
import type { CliIO } from './runtime';

export const AUTHLOG_EXIT = ANALYSIS_EXIT;

interface AuthlogOptions extends FailureCommandOptions {
  year?: string;
  timezone: string;
  allMethods?: boolean;
}

export interface AuthlogDeps {
  /** The current time: the default year of syslog lines, which carry none. */
  readonly now: () => Date;
}

/**
 * One clock per file (the New Year rollover is state that belongs to one file read in order)
 * behind the one clock the analyzer was built with.
 */
class PerFileClock implements LogClock {
  constructor(public current: LogClock) {}
  yearFor(month: number): number {
    return this.current.yearFor(month);
  }
  wallToEpochMs(year: number, month: number, day: number, hour: number, minute: number, second: number, millis: number): number {
    return this.current.wallToEpochMs(year, month, day, hour, minute, second, millis);
  }
}

/** --year and --timezone as a clock factory; an error names the option. */
export function clockFactory(yearText: string | undefined, timeZone: string, now: Date): Result<{ year: number; make: () => LogClock }, 'usage'> {
  if (yearText !== undefined && !/^\d{4}$/.test(yearText.trim())) {
    return fail('usage', `--year must be a four-digit year like 2024, not ${JSON.stringify(yearText.slice(0, 40))}`);
  }
  const year = yearText === undefined ? now.getUTCFullYear() : Number(yearText.trim());
  const first = createLogClock({ year, timeZone, rollover: true });
  if (!first.ok) {
    const option = first.error.kind === 'invalid_year' ? '--year' : '--timezone';
    return fail('usage', `${option}: ${first.error.message}`);
  }
  return ok({
    year,
    make: () => {
      const c = createLogClock({ year, timeZone, rollover: true });
      return c.ok ? c.value : first.value;
    },
  });
}


export function authlogCommand(io: CliIO, deps: AuthlogDeps = { now: () => new Date() }): Command {
  const cmd = new Command('authlog')
    .description('find failed sshd logins and brute force in auth.log files (plain, .gz, or - for stdin), streamed')
    .argument('[file...]', 'auth.log files, rotated .gz files, or - for standard input (default: standard input)')
    .option('--threshold <n>', 'a source is a brute-force candidate at this many failures inside one window', DEFAULT_FAILURE_OPTION_TEXT.threshold)
    .option('--window <time>', 'sliding window: 90 (seconds), 90s, 10m, 1h, 1d', DEFAULT_FAILURE_OPTION_TEXT.window)
    .option('--top <n>', 'how many sources and user names the top lists show', DEFAULT_FAILURE_OPTION_TEXT.top)
    .option('--success-after <n>', 'report an accepted login whose source had at least this many failures before', DEFAULT_FAILURE_OPTION_TEXT.successAfter)
    .option('--year <yyyy>', 'year of the first syslog line ("Dec 10 06:55:46" has none; a log running past New Year moves on by itself) (default: this year)')
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

Output: --format table (a text report), csv (one row per source: the top sources and every
brute-force candidate), json (one document with totals, top sources and users, candidates and
successes after failures). --attempts writes time,source,host,address,user,invalid_user,method,
reason,port,count for every failed attempt as it is read (memory stays flat).

${ANALYSIS_EXIT_HELP}`,
  );
  cmd.action((files: string[], opts: AuthlogOptions) =>
    runFailureCommand(io, cmd, files, opts, {
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
