/**
 * The pure pieces behind `soar-edr authlog`: option parsing and the report rendering, run on
 * the real loghub logs through the real analysis core.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import { Command } from 'commander';
import { AuthLogAnalyzer, AuthLogSummary } from '../../src/analysis/authlog';
import { BruteForceOptions, SSH_BRUTE_FORCE_OPTIONS, WINDOWS_BRUTE_FORCE_OPTIONS } from '../../src/analysis/bruteforce';
import { clockFactory } from '../../src/cli/authlog-command';
import { attemptsMode } from '../../src/cli/failure-command';
import {
  failureOptionText,
  FailureOptionText,
  FailureReport,
  formatSeconds,
  hasFindings,
  isoTime,
  parseFailureOptions,
  renderFailureReport,
  reportedSources,
  userList,
} from '../../src/cli/failure-summary';
import { addOutputOptions } from '../../src/cli/output-format';
import { corpusPath } from '../support/paths';

const SSH = corpusPath('sshd', 'loghub_SSH_2k.log');
const LINUX = corpusPath('sshd', 'loghub_Linux_2k.log');

const DEFAULT_TEXT = failureOptionText(SSH_BRUTE_FORCE_OPTIONS);

function options(given: Partial<FailureOptionText> = {}): BruteForceOptions {
  const o = parseFailureOptions({ ...DEFAULT_TEXT, ...given }, SSH_BRUTE_FORCE_OPTIONS);
  assert.ok(o.ok, o.ok ? '' : o.error.message);
  return o.value;
}

function analyze(text: string, year: number, given: Partial<FailureOptionText> = {}): AuthLogSummary {
  const clocks = clockFactory(String(year), 'UTC', new Date());
  assert.ok(clocks.ok);
  const a = new AuthLogAnalyzer(clocks.value.make(), options(given));
  for (const line of text.split('\n')) a.feedLine(line);
  return a.summarize();
}

function report(s: AuthLogSummary, name: string, year: number): FailureReport {
  return {
    inputs: [{ name, bytes: 0, gzip: false, records: s.counts.lines, error: null }],
    failures: s.failures,
    details: { kind: 'authlog', counts: s.counts, year: { kind: 'given', year }, timeZone: 'UTC' },
  };
}

describe('cli/failure-summary: options', () => {
  it('writes the core options as option text that parses back to them (window 15m, success window 30m)', () => {
    assert.deepEqual(options(), SSH_BRUTE_FORCE_OPTIONS);
    assert.deepEqual([DEFAULT_TEXT.window, DEFAULT_TEXT.successWindow], ['15m', '30m']);
    // Per-account counting is the detection's, whatever the options say.
    const win = parseFailureOptions(failureOptionText(WINDOWS_BRUTE_FORCE_OPTIONS), WINDOWS_BRUTE_FORCE_OPTIONS);
    assert.deepEqual(win, { ok: true, value: WINDOWS_BRUTE_FORCE_OPTIONS });
    assert.equal(options({ threshold: '0', successAfter: '0' }).threshold, 0, '"more than 0" is every failure');
  });

  it('reads windows as seconds, or with s, m, h, d', () => {
    assert.equal(options({ window: '90' }).windowSeconds, 90);
    assert.equal(options({ window: '90s' }).windowSeconds, 90);
    assert.equal(options({ window: '10m' }).windowSeconds, 600);
    assert.equal(options({ window: '1h' }).windowSeconds, 3600);
    assert.equal(options({ window: '1d' }).windowSeconds, 86400);
  });

  it('refuses each bad value with a message naming the option', () => {
    const bad: [Partial<FailureOptionText>, RegExp][] = [
      [{ threshold: '-1' }, /--threshold must be a whole number of at least 0, not "-1"/],
      [{ threshold: '2.5' }, /--threshold/],
      [{ top: 'ten' }, /--top/],
      [{ top: '0' }, /--top must be a whole number of at least 1, not "0"/],
      [{ successAfter: '-1' }, /--success-after/],
      [{ window: '10x' }, /--window: "10x" is not a duration/],
      [{ window: '0' }, /--window must be longer than 0 seconds/],
      [{ successWindow: 'later' }, /--success-window: "later" is not a duration/],
      [{ successWindow: '0s' }, /--success-window must be longer than 0 seconds/],
    ];
    for (const [given, message] of bad) {
      const r = parseFailureOptions({ ...DEFAULT_TEXT, ...given }, SSH_BRUTE_FORCE_OPTIONS);
      assert.ok(!r.ok, JSON.stringify(given));
      assert.equal(r.error.kind, 'usage');
      assert.match(r.error.message, message);
    }
  });

  it('checks --year and --timezone; without --year a line goes in the year that puts it at most a day after now', () => {
    const now = new Date('2031-03-04T05:06:07Z');
    const d = clockFactory(undefined, 'UTC', now);
    assert.ok(d.ok);
    assert.deepEqual(d.value.year, { kind: 'inferred', latestMs: Date.UTC(2031, 2, 5, 5, 6, 7) });
    const inferred = d.value.make();
    assert.equal(inferred.yearlessToEpochMs(3, 5, 5, 6, 7), Date.UTC(2031, 2, 5, 5, 6, 7), 'a day ahead: this year');
    assert.equal(inferred.yearlessToEpochMs(3, 5, 5, 6, 8), Date.UTC(2030, 2, 5, 5, 6, 8), 'a second more: last year');
    assert.equal(inferred.yearlessToEpochMs(12, 31, 23, 0, 0), Date.UTC(2030, 11, 31, 23));
    const given = clockFactory('2017', 'UTC', now);
    assert.ok(given.ok);
    assert.deepEqual(given.value.year, { kind: 'given', year: 2017 });
    assert.equal(given.value.make().yearlessToEpochMs(12, 31, 23, 0, 0), Date.UTC(2017, 11, 31, 23), '--year is used as given');
    const badYear = clockFactory('17', 'UTC', now);
    assert.ok(!badYear.ok);
    assert.match(badYear.error.message, /^--year must be a four-digit year like 2024, not "17"/);
    const early = clockFactory('1969', 'UTC', now);
    assert.ok(!early.ok);
    assert.match(early.error.message, /^--year: /);
    const zone = clockFactory('2017', 'Mars/Olympus_Mons', now);
    assert.ok(!zone.ok);
    assert.match(zone.error.message, /^--timezone: unknown time zone/);
    const noClock = clockFactory(undefined, 'UTC', new Date(Number.NaN));
    assert.ok(!noClock.ok);
    assert.match(noClock.error.message, /^the system clock: the reading time must be a time after 1970/);
    const berlin = clockFactory('2017', 'Europe/Berlin', now);
    assert.ok(berlin.ok);
    // 10 Dec is winter time: UTC+1.
    assert.equal(berlin.value.make().wallToEpochMs(2017, 12, 10, 7, 0, 0, 0), Date.UTC(2017, 11, 10, 6));
  });

  it('--attempts means CSV, JSON Lines under --format json, and refuses a table or --enrich', () => {
    const parse = (...args: string[]) => {
      const cmd = addOutputOptions(new Command('x').option('--attempts').option('--enrich'));
      cmd.parse(args, { from: 'user' });
      return attemptsMode(cmd, cmd.opts() as never);
    };
    assert.deepEqual(parse(), { ok: true, value: null });
    assert.deepEqual(parse('--attempts'), { ok: true, value: 'csv' });
    assert.deepEqual(parse('--attempts', '--format', 'csv'), { ok: true, value: 'csv' });
    assert.deepEqual(parse('--attempts', '--format', 'json'), { ok: true, value: 'json' });
    const table = parse('--attempts', '--format', 'table');
    assert.ok(!table.ok);
    assert.match(table.error.message, /not a table/);
    const enrich = parse('--attempts', '--enrich');
    assert.ok(!enrich.ok);
    assert.match(enrich.error.message, /--enrich/);
  });
});

describe('cli/failure-summary: loghub_SSH_2k.log report', () => {
  const s = analyze(readFileSync(SSH, 'utf8'), 2017, { top: '50' });
  const r = report(s, 'loghub_SSH_2k.log', 2017);

  it('JSON: 528 failed attempts from 23 sources, 183.62.140.253 first with 286', () => {
    const doc = JSON.parse(renderFailureReport('json', r)) as Record<string, any>;
    assert.equal(doc.command, 'authlog');
    assert.equal(doc.totals.failed_attempts, 528);
    assert.equal(doc.totals.sources, 23);
    assert.equal(doc.top_sources.length, 23);
    assert.deepEqual([doc.top_sources[0].address, doc.top_sources[0].failures, doc.top_sources[0].scope], ['183.62.140.253', 286, 'public']);
    assert.equal(doc.authlog.failed_password_lines, 520);
    assert.deepEqual(doc.authlog.failed_by_method, { none: 4, password: 528 });
    assert.equal(doc.top_users[0].user, 'root');
    assert.equal(doc.top_users[0].failures, 378);
    assert.equal(doc.brute_force.length, s.failures.bruteForce.length);
    assert.ok(doc.brute_force.every((b: { brute_force: boolean; max_in_window: number }) => b.brute_force && b.max_in_window > 10));
    assert.equal(doc.totals.first, '2017-12-10T06:55:48Z');
    assert.equal(doc.totals.last, '2017-12-10T11:04:45Z');
  });

  it('CSV: one row per source that reads back, failures summing to 528', () => {
    const rows = parseCsv(renderFailureReport('csv', r), { columns: true }) as Record<string, string>[];
    assert.equal(rows.length, 23);
    assert.equal(rows.reduce((n, row) => n + Number(row.failures), 0), 528);
    assert.deepEqual([rows[0]!.address, rows[0]!.failures, rows[0]!.brute_force], ['183.62.140.253', '286', 'true']);
    assert.equal(rows.find((row) => row.address === '5.188.10.180')!.failures, '18');
    assert.match(rows.find((row) => row.address === '5.188.10.180')!.top_users!, /(^|, ) 0101 \(1\)/);
  });

  it('CSV lists the top sources plus every candidate beyond --top', () => {
    const small = analyze(readFileSync(SSH, 'utf8'), 2017, { top: '1' });
    const listed = reportedSources(small.failures);
    assert.equal(small.failures.topSources.length, 1);
    assert.equal(listed.length, small.failures.bruteForce.length);
    assert.deepEqual(listed.map((x) => x.failures), [...listed.map((x) => x.failures)].sort((a, b) => b - a));
  });

  it('table: totals, each section, and exit-code findings', () => {
    const text = renderFailureReport('table', r);
    assert.match(text, /^loghub_SSH_2k\.log: 2,000 lines, 528 failed attempts from 23 sources/);
    assert.match(text, /\nTop sources \(23 of 23\)\naddress +scope +failures/);
    assert.match(text, /\n183\.62\.140\.253 +public +286 /);
    assert.match(text, new RegExp(`\\nBrute-force candidates: ${s.failures.bruteForce.length} \\(more than 10 failures within 15m\\)`));
    assert.match(text, /\nSuccess after failures: 0 \(more than 3 failures within 30m before\)\n\(none\)\n$/);
    assert.equal(hasFindings(s.failures), s.failures.bruteForce.length > 0);
  });

  it('a narrower window finds fewer candidates, a higher threshold fewer', () => {
    const text = readFileSync(SSH, 'utf8');
    const base = s.failures.bruteForce.length;
    assert.ok(analyze(text, 2017, { window: '1m' }).failures.bruteForce.length < base);
    assert.ok(analyze(text, 2017, { threshold: '100' }).failures.bruteForce.length < base);
    assert.equal(analyze(text, 2017, { threshold: '1000' }).failures.bruteForce.length, 0);
  });
});

describe('cli/failure-summary: loghub_Linux_2k.log (old sshd(pam_unix) tag)', () => {
  const s = analyze(readFileSync(LINUX, 'utf8'), 2005);
  it('counts 0 "Failed password" lines and 489 PAM failures, host names scoped as such', () => {
    const doc = JSON.parse(renderFailureReport('json', report(s, 'loghub_Linux_2k.log', 2005))) as Record<string, any>;
    assert.equal(doc.authlog.failed_password_lines, 0);
    assert.equal(doc.authlog.legacy_pam_failures, 489);
    assert.equal(doc.totals.failed_attempts, 489);
    assert.equal(doc.totals.sources, 47);
    assert.deepEqual([doc.top_sources[0].address, doc.top_sources[0].failures], ['150.183.249.110', 80]);
    const host = doc.top_sources.find((x: { address: string }) => x.address === 'n219076184117.netvigator.com');
    assert.equal(host.scope, 'hostname');
    assert.equal(host.public, false);
  });
});

describe('cli/failure-summary: attacker-chosen user names', () => {
  // A real corpus line with its user name replaced by hostile ones.
  const template = readFileSync(SSH, 'utf8')
    .split('\n')
    .find((l) => l.includes('Failed password for invalid user webmaster from 173.234.31.186'))!;
  const hostile = ['=HYPERLINK("http://evil.example/")', '+cmd|calc', '@SUM(1+1)', 'admin\u202Egnp.exe', 'tab\there', 'a,b"c'];
  const lines = hostile.flatMap((u) => Array.from({ length: 3 }, () => template.replace('webmaster', u)));
  const s = analyze(lines.join('\n'), 2017, { threshold: '5' });
  const r = report(s, 'hostile.log', 2017);

  it('keeps them verbatim in JSON', () => {
    const doc = JSON.parse(renderFailureReport('json', r)) as Record<string, any>;
    assert.deepEqual(new Set(doc.top_users.map((u: { user: string }) => u.user)), new Set(hostile));
  });

  it('CSV cells cannot run as formulas; the table shows control and bidi characters', () => {
    const csv = renderFailureReport('csv', r);
    const rows = parseCsv(csv, { columns: true }) as Record<string, string>[];
    assert.equal(rows.length, 1);
    // The whole list is one cell: its start decides whether a spreadsheet evaluates it.
    assert.ok(!/^[=+@-]/.test(rows[0]!.top_users!));
    assert.ok(!csv.includes('\u202E'));
    const table = renderFailureReport('table', r);
    assert.ok(!table.includes('\u202E'));
    assert.ok(!table.includes('\t'));
    assert.match(table, /<U\+202E>/);
    assert.match(table, /<U\+0009>/);
  });
});

describe('cli/failure-summary: small formatters', () => {
  it('formats times, windows and user lists', () => {
    assert.equal(isoTime(Date.UTC(2017, 11, 10, 6, 55, 48)), '2017-12-10T06:55:48Z');
    assert.equal(isoTime(Date.UTC(2016, 8, 19, 16, 50, 6, 477)), '2016-09-19T16:50:06.477Z');
    assert.equal(isoTime(null), null);
    assert.equal(isoTime(NaN), null);
    assert.equal(formatSeconds(60), '1m');
    assert.equal(formatSeconds(90), '1m30s');
    assert.equal(formatSeconds(600), '10m');
    assert.equal(formatSeconds(86400 + 3600), '1d1h');
    assert.equal(formatSeconds(45), '45s');
    assert.equal(userList([{ user: 'root', failures: 3 }, { user: 'admin', failures: 1 }]), 'root (3), admin (1)');
    assert.equal(userList([{ user: 'root', failures: 3 }], true), 'root (3), …');
  });
});
