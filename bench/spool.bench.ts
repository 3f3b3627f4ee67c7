/**
 * Stress bench (issue 11, item 5): a 1,000,000-row digest through the packaged app with a
 * 60 s time budget, then `soar-edr drain` until the spool is empty. Prints the rows/s of the
 * alert run and of the drain, and checks that every row is recorded exactly once (the rows
 * of incidents.csv, and the distinct sid + rid among them) and that nothing is left spooled.
 * Minutes long, so not part of `npm test` nor of `npm run bench` unless BENCH_SPOOL=1;
 * run alone with: npx tsc -p tsconfig.json && node build/build.mjs && node build/package.mjs && node out/bench/spool.bench.js
 *
 * Few distinct addresses, private and public, and no provider keys: the rows cost what
 * recording them costs (a report file and a CSV row each), not lookups.
 */
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse as parseCsv } from 'csv-parse';
import { parseLogLines, withSignature } from '../test/support/splunk-log';
import { REPO_ROOT } from '../test/support/paths';
import { actionConfiguration, buildPayload, installApp, runAction, writeDispatch } from '../test/support/splunkd-emulator';
import type { BenchLine } from './alert-action.bench';
import { fmt } from './stats';

const ROWS = Number(process.env.BENCH_SPOOL_ROWS ?? 1_000_000);
const ADDRESSES = ['10.20.30.40', '192.168.7.8', '203.0.113.50', '198.51.100.77'];
const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'soar-edr.cjs');

function drain(dataDir: string): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [CLI, 'drain', '--time-budget', '30m'], { env: { PATH: process.env.PATH ?? '', HOME: dataDir, SOAR_DATA_DIR: dataDir } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    // The drain logs lines per row: keep only the tail.
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d).slice(-20_000)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
    child.stdin.end();
  });
}

/** Rows of incidents.csv for the sid, and how many distinct rids among them. */
async function countRecorded(dataDir: string, sid: string): Promise<{ rows: number; distinct: number }> {
  const seen = new Set<string>();
  let rows = 0;
  const parser = createReadStream(path.join(dataDir, 'incidents.csv')).pipe(parseCsv({ columns: true }));
  for await (const row of parser as AsyncIterable<Record<string, string>>) {
    if (row.sid !== sid) continue;
    rows += 1;
    seen.add(row.rid!);
  }
  return { rows, distinct: seen.size };
}

export async function benchSpool(): Promise<BenchLine[]> {
  const app = await installApp();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'soar-bench-spool-'));
  try {
    const sid = 'scheduler__admin__search__RMD5bench_at_1764000000_1';
    const rows = Array.from({ length: ROWS }, (_, i) => ({ src_ip: ADDRESSES[i % ADDRESSES.length]!, failure_count: String(11 + (i % 40)) }));
    const d = writeDispatch(app, rows, 'digest', sid);
    const payload = buildPayload({ sid, resultsFile: d.resultsFiles[0]!, configuration: actionConfiguration(app, { 'action.soar_response.param.time_budget': '60s' }), serverUri: '', sessionKey: '' });
    const run = await runAction(app, payload, { env: { SOAR_DATA_DIR: dataDir } });
    const closing = withSignature(parseLogLines(run.stderr), 'Modular action script duration')[0]?.fields;
    if (closing === undefined) throw new Error(`no closing line (exit ${run.code}, signal ${run.signal}): ${run.stderr.slice(-2000)}`);
    const recorded = Number(closing.handed_off);
    const spooled = Number(closing.spooled);
    const runRate = recorded / (Number(closing.duration) / 1000);

    let drained = 0;
    let drainMs = 0;
    for (let pass = 0; pass < 5; pass++) {
      const r = await drain(dataDir);
      const summary = Object.fromEntries(r.stdout.trim().split(' ').map((kv) => kv.split('=')));
      drained += Number(summary.spool_recorded ?? 0);
      drainMs += r.ms;
      if (summary.spool_entries === '0' || summary.spool_entries === undefined) break;
    }
    const spoolDir = path.join(dataDir, 'spool');
    const left = existsSync(spoolDir) ? readdirSync(spoolDir).filter((n) => n.endsWith('.json')).length : 0;
    const counted = await countRecorded(dataDir, sid);
    const exact = counted.rows === ROWS && counted.distinct === ROWS && left === 0;
    return [
      {
        name: `spool: ${ROWS.toLocaleString('en')}-row digest, time budget 60 s`,
        value: `exit ${run.code}, ${recorded} recorded (${Math.round(runRate)} rows/s) + ${spooled} spooled in ${fmt(Number(closing.duration))}, max_rss ${Math.round(Number(closing.max_rss_kb) / 1024)} MB`,
        target: `recorded + spooled = ${ROWS}, exit 6`,
        pass: recorded + spooled === ROWS && run.code === (spooled > 0 ? 6 : 0),
      },
      {
        name: 'spool: soar-edr drain until empty',
        value: `${drained} rows in ${fmt(drainMs)} (${Math.round(drained / (drainMs / 1000))} rows/s); incidents.csv ${counted.rows} rows, ${counted.distinct} distinct rids, ${left} entries left`,
        target: `every row exactly once (${ROWS} rows, ${ROWS} distinct), spool empty`,
        pass: exact,
      },
    ];
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(app.splunkHome, { recursive: true, force: true });
  }
}

if (require.main === module) {
  benchSpool().then(
    (lines) => {
      for (const l of lines) console.log(`${l.pass ? 'PASS' : 'MISS'}  ${l.name}  ${l.value}  (target ${l.target})`);
      if (lines.some((l) => !l.pass)) process.exitCode = 1;
    },
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
