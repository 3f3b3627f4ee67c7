/**
 * authlog benchmark (issue 5, Speed): a 1 GB auth.log built from the real sshd line variants
 * (bench/authlog-input.ts; BENCH_AUTHLOG_MB scales it, default 1024), read by
 *  - the command the user runs: `node dist/cli/soar-edr.cjs authlog FILE --format json`,
 *  - the analysis core alone (bench/authlog-driver.ts: readLines + AuthLogAnalyzer, no option
 *    parsing or output), to show what the CLI shell adds,
 *  - seed 003's Python parser (seed003_parse_ssh.py in SOAR_BASELINES_DIR, when given), same file, same run
 *    (BENCH_AUTHLOG_PY_MB gives it a smaller prefix of the same file instead),
 * each in a child process pinned to one core, interleaved, several runs, medians; peak RSS
 * from GNU time. fail2ban-regex is a reference figure from LANDSCAPE.md §3.6, not measured.
 * Targets: >= 1,000,000 lines/s on one core, peak RSS <= 100 MB.
 */
import * as path from 'node:path';
import type { BenchLine } from './alert-action.bench';
import { authlogInput } from './authlog-input';
import { baselineScript, ChildRun, CLI, loadNote, perSecond, pinning, runChild, skippedBaseline } from './child-measure';
import { median } from './stats';

const FAIL2BAN_LINES_PER_S = 20_600;
const PYTHON = baselineScript('seed003_parse_ssh.py');

interface CliSummary {
  inputs: { records: number; bytes: number }[];
  totals: { failed_attempts: number; sources: number };
  authlog: { failed_password_lines: number };
}

interface CoreSummary {
  lines: number;
  failedPasswordLines: number;
  totalFailures: number;
  maxRssKb: number;
}

function sizeLabel(bytes: number): string {
  return bytes >= 1 << 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

function rate(lines: number, bytes: number, ms: number): string {
  return `${perSecond(lines, ms)} lines/s, ${((bytes / 2 ** 20) * 1000 / ms).toFixed(0)} MiB/s (${(ms / 1000).toFixed(2)} s)`;
}

function check(r: ChildRun, what: string): void {
  // authlog exits 1 when it found brute force (documented); anything else is a failure.
  if (r.code !== 0 && r.code !== 1) throw new Error(`${what} exited ${r.code}: ${r.stderr.slice(-2000)}`);
}

export async function benchAuthlog(runs: number): Promise<BenchLine[]> {
  const mb = Number(process.env.BENCH_AUTHLOG_MB ?? 1024);
  const input = await authlogInput(mb);
  const pyMb = process.env.BENCH_AUTHLOG_PY_MB === undefined ? mb : Number(process.env.BENCH_AUTHLOG_PY_MB);
  const pyInput = pyMb === mb ? input : await authlogInput(pyMb);
  const help = await runChild(process.execPath, [CLI, 'authlog', '--help']);
  const haveCli = help.code === 0;
  const driver = path.join(__dirname, 'authlog-driver.js');
  const n = Math.max(3, Math.floor(runs / 5));

  const cli: ChildRun[] = [];
  const core: ChildRun[] = [];
  const py: ChildRun[] = [];
  let cliSummary = null as CliSummary | null;
  let coreSummary = null as CoreSummary | null;
  let pyCount = NaN;
  for (let i = 0; i < n; i++) {
    if (haveCli) {
      const r = await runChild(process.execPath, [CLI, 'authlog', input.file, '--format', 'json', '--year', '2025']);
      check(r, 'soar-edr authlog');
      cliSummary = JSON.parse(r.stdout) as CliSummary;
      if (cliSummary.inputs[0]?.records !== input.lines) throw new Error(`the CLI read ${cliSummary.inputs[0]?.records} lines of ${input.lines}`);
      cli.push(r);
    }
    const d = await runChild(process.execPath, [driver, input.file]);
    check(d, 'authlog driver');
    coreSummary = JSON.parse(d.stdout) as CoreSummary;
    core.push(d);
    if (PYTHON !== null) {
      const p = await runChild('python3', [PYTHON, pyInput.file]);
      check(p, 'seed003_parse_ssh.py');
      pyCount = Number(/Total failed login attempts: (\d+)/.exec(p.stdout)?.[1] ?? NaN);
      py.push(p);
    }
  }

  // Memory should not grow with the file: one more run of ours on a quarter of it.
  const quarterInput = await authlogInput(mb / 4);
  const quarter = await runChild(
    process.execPath,
    haveCli ? [CLI, 'authlog', quarterInput.file, '--format', 'json', '--year', '2025'] : [driver, quarterInput.file],
  );
  check(quarter, 'authlog on a quarter of the file');

  const lines: BenchLine[] = [];
  const label = `${sizeLabel(input.bytes)} auth.log, ${input.lines.toLocaleString('en-US')} lines`;
  const med = (rs: ChildRun[]): number => median(rs.map((r) => r.ms));
  const maxRss = (rs: ChildRun[]): number => Math.max(...rs.map((r) => r.rssMb ?? NaN));
  const all = [...cli, ...core, ...py];
  const ours = haveCli ? cli : core;
  const oursMs = med(ours);
  const oursRate = (input.lines * 1000) / oursMs;
  const oursName = haveCli ? 'soar-edr authlog --format json (CLI)' : 'authlog core driver (no CLI command built yet)';
  lines.push({
    name: `${oursName}, ${label}, ${pinning()}, median of ${n}`,
    value: `${rate(input.lines, input.bytes, oursMs)}; ${loadNote(all)}`,
    target: '>= 1,000,000 lines/s',
    pass: oursRate >= 1_000_000,
  });
  const rss = haveCli ? maxRss(cli) : Math.max(...core.map((r) => r.rssMb ?? (coreSummary?.maxRssKb ?? NaN) / 1024));
  lines.push({
    name: `${oursName} peak RSS, max of ${n}`,
    value:
      `${rss.toFixed(0)} MB (runs: ${ours.map((r) => (r.rssMb ?? NaN).toFixed(0)).join(', ')}); ` +
      `${(quarter.rssMb ?? NaN).toFixed(0)} MB on a ${sizeLabel(quarterInput.bytes)} prefix (flat: per-source state, not file size)`,
    target: '<= 100 MB',
    pass: rss <= 100,
  });
  if (haveCli && cliSummary !== null) {
    lines.push({
      name: `authlog core alone (readLines + AuthLogAnalyzer, no CLI shell), same file, median of ${n}`,
      value: `${rate(input.lines, input.bytes, med(core))}, peak RSS ${maxRss(core).toFixed(0)} MB`,
      target: 'reference: what the CLI shell adds',
      pass: true,
    });
  }
  const pyMs = med(py);
  const pyRate = (pyInput.lines * 1000) / pyMs;
  const pySlice = pyInput === input ? 'same file' : `a ${sizeLabel(pyInput.bytes)} prefix of the same file`;
  const found = cliSummary !== null ? cliSummary.authlog.failed_password_lines : coreSummary?.failedPasswordLines;
  const attempts = cliSummary !== null ? cliSummary.totals.failed_attempts : coreSummary?.totalFailures;
  if (PYTHON === null) lines.push(skippedBaseline('the lab SSH parser script (Python)', 'seed003_parse_ssh.py'));
  else lines.push({
    name: `the lab SSH parser script (Python, seed003_parse_ssh.py), ${pySlice}, median of ${n}`,
    value:
      `${rate(pyInput.lines, pyInput.bytes, pyMs)}, peak RSS ${maxRss(py).toFixed(0)} MB; ours ${(oursRate / pyRate).toFixed(1)}x its lines/s. ` +
      `It counted ${pyCount.toLocaleString('en-US')} "Failed password" lines (IPv4 only)` +
      (pyInput === input ? `; ours ${found?.toLocaleString('en-US')} lines = ${attempts?.toLocaleString('en-US')} counted attempts` : ''),
    target: 'reference, measured in the same run',
    pass: true,
  });
  lines.push({
    name: 'fail2ban-regex sshd filter (LANDSCAPE.md §3.6: 20.6 k lines/s on one core; reference figure, not measured here)',
    value: `ours ${Math.round(oursRate / FAIL2BAN_LINES_PER_S)}x that`,
    target: 'reference',
    pass: oursRate > FAIL2BAN_LINES_PER_S,
  });
  return lines;
}
