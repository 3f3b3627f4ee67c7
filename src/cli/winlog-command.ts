/**
 * `soar-edr winlog FILE...`: Windows failed logons (event 4625, with 4624 for successes after
 * failures) from an Event XML export, a CSV export or winlogbeat JSON, plain or gzip, read as
 * a stream, with the same summary as `soar-edr authlog`. A thin shell over
 * src/analysis/winlog.ts and winlog-read.ts.
 */
import { Command, Option } from 'commander';
import { attemptFromWinEvent } from '../analysis/attempt-export';
import { WINDOWS_BRUTE_FORCE_OPTIONS } from '../analysis/bruteforce';
import { WinLogAnalyzer } from '../analysis/winlog';
import { readWinlog, WinlogFormat } from '../analysis/winlog-read';
import { ok } from '../result';
import { addDetectionOptions, ANALYSIS_EXIT, analysisExitHelp, DetectionDefaults, detectionDefaultsHelp, FailureCommandOptions, runFailureCommand } from './failure-command';
import { addOutputOptions } from './output-format';
import type { CliIO } from './runtime';
import { complain } from './runtime';

export const WINLOG_EXIT = ANALYSIS_EXIT;

export const INPUT_FORMATS = ['auto', 'xml', 'csv', 'json'] as const;

/** The Windows failed-logon detection's defaults (default/macros.conf), which winlog's options start from. */
export const WINLOG_DETECTION: DetectionDefaults = {
  options: WINDOWS_BRUTE_FORCE_OPTIONS,
  detection: 'SOAR-EDR - Windows failed-logon brute force',
  thresholdMacro: 'soar_windows_bruteforce_threshold',
  windowMacro: 'soar_windows_bruteforce_window',
  counted: 'failures against one account',
  success: 'a 4624 logon',
};

interface WinlogOptions extends FailureCommandOptions {
  inputFormat: (typeof INPUT_FORMATS)[number];
}

export function winlogCommand(io: CliIO): Command {
  const cmd = new Command('winlog')
    .description('find failed Windows logons (4625) and brute force in Event XML, CSV or winlogbeat JSON exports (plain, .gz, or - for stdin)')
    .argument('[file...]', 'exported event files, or - for standard input (default: standard input)')
    .addOption(new Option('--input-format <format>', 'the export format; auto looks at the first characters').choices([...INPUT_FORMATS]).default('auto'));
  addDetectionOptions(cmd, WINLOG_DETECTION)
    .option('--attempts', 'instead of the summary, write every failed logon: CSV, or JSON Lines with --format json')
    .option('--enrich', 'look the brute-force candidates up with VirusTotal and AbuseIPDB (public addresses only)');
  addOutputOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Reads wevtutil / Event Viewer XML (<Event> elements, with or without an <Events> root), CSV with
a header row (EventData names such as IpAddress, TargetUserName, LogonType, Status, SubStatus, or
Splunk's Source_Network_Address / Account_Name; without an event id column every row is a 4625),
and winlogbeat / ECS JSON (one object per line, an array, or one object). Status and SubStatus
become a readable reason ("bad password", "no such user", "account locked out"); the source is
IpAddress (a local logon has none).

${detectionDefaultsHelp(WINLOG_DETECTION)}
As in the detection (stats by src_ip, user), each account of a source has windows of its own
(a failure naming no account counts in none), and a source is one candidate however many of
its accounts pass the threshold.

Output: --format table (a text report with failures by reason and logon type), csv (one row per
source: the top sources and every brute-force candidate), json (one document). --attempts writes
time,source,host,address,user,invalid_user,method (logon type),reason,port,count per failure.

${analysisExitHelp(cmd)}`,
  );
  cmd.action((files: string[], opts: WinlogOptions) =>
    runFailureCommand(io, cmd, files, opts, {
      detection: WINLOG_DETECTION,
      check: () => ok(undefined),
      analysis: (_nothing, brute, attempt) => {
        const analyzer = new WinLogAnalyzer(brute, attempt === undefined ? undefined : (ev) => attempt(attemptFromWinEvent(ev)));
        const formats = new Set<WinlogFormat>();
        let malformed = 0;
        return {
          reader: {
            recordName: 'logon events',
            read: (readable, tally) =>
              readWinlog(readable, opts.inputFormat, (ev) => {
                tally.records += 1;
                analyzer.add(ev);
              }),
            whole: (read, name) => {
              formats.add(read.format);
              malformed += read.malformed;
              if (read.malformed > 0) complain(io, `${name}: ${read.malformed} record(s) could not be read, the first: ${read.firstProblem ?? 'unknown problem'}`);
              return { bytes: read.bytes, gzip: read.gzip, records: read.records };
            },
          },
          summarize: () => {
            const summary = analyzer.summarize();
            return {
              failures: summary.failures,
              details: {
                kind: 'winlog',
                counts: summary.counts,
                formats: [...formats],
                byReason: summary.byReason,
                byLogonType: summary.byLogonType,
                byStatus: summary.byStatus,
                malformed,
              },
            };
          },
        };
      },
    }),
  );
  return cmd;
}
