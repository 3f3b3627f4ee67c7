/**
 * Foundation benchmarks (issue 2), through the packaged app as splunkd runs it:
 *  - per-result run of bin/soar_response.sh with a 1-row results file, through the hand-off,
 *    secrets read from a loopback storage/passwords stub: median wall time vs `node -e 0`
 *    measured interleaved in the same run (target <= 1.5x);
 *  - digest of 100,000 rows: wall time (target <= 2 s) and the action's peak RSS (<= 150 MB).
 */
import { actionConfiguration, buildPayload, installApp, findActionScript, Row, writeDispatch } from '../test/support/splunkd-emulator';
import { startRestStub } from '../test/support/splunkd-rest-stub';
import { parseLogLines, withSignature } from '../test/support/splunk-log';
import { fmt, median, timeProcess } from './stats';

export interface BenchLine {
  readonly name: string;
  readonly value: string;
  readonly target: string;
  readonly pass: boolean;
}

export async function benchAlertAction(runs: number): Promise<BenchLine[]> {
  const app = await installApp();
  const rest = await startRestStub();
  rest.passwords.push({ app: 'soar_edr', realm: 'soar_edr', username: 'virustotal_api_key', password: 'bench-key-0123456789' });
  const script = findActionScript(app);
  const env = { PATH: process.env.PATH, SPLUNK_HOME: app.splunkHome };
  try {
    const one = writeDispatch(app, [{ src_ip: '203.0.113.42', failure_count: '14', users: ['root', 'admin'] }], 'per_result');
    const payload = JSON.stringify(buildPayload({ sid: one.sid, resultsFile: one.resultsFiles[0]!, configuration: actionConfiguration(app), serverUri: rest.url, sessionKey: rest.sessionKey }));
    const nodeTimes: number[] = [];
    const actionTimes: number[] = [];
    // Warm the page cache once, then interleave so both see the same machine state.
    await timeProcess(script, ['--execute'], { input: payload, env });
    for (let i = 0; i < runs; i++) {
      nodeTimes.push((await timeProcess(process.execPath, ['-e', '0'])).ms);
      const r = await timeProcess(script, ['--execute'], { input: payload, env });
      if (r.code !== 0 || withSignature(parseLogLines(r.stderr), 'Alert row handed to the incident pipeline').length !== 1) {
        throw new Error(`per-result run failed (exit ${r.code}): ${r.stderr}`);
      }
      actionTimes.push(r.ms);
    }
    const ratio = median(actionTimes) / median(nodeTimes);

    const rows: Row[] = Array.from({ length: 100_000 }, (_, i) => ({
      src_ip: `${11 + (i % 200)}.${(i >> 8) & 255}.${i & 255}.${(i * 7) % 254 + 1}`,
      failure_count: String(11 + (i % 50)),
      users: i % 3 === 0 ? ['root', 'admin'] : 'root',
      attack_type: 'SSH Brute Force',
    }));
    const digest = writeDispatch(app, rows, 'digest');
    const digestPayload = JSON.stringify(buildPayload({ sid: digest.sid, resultsFile: digest.resultsFiles[0]!, configuration: actionConfiguration(app), serverUri: rest.url, sessionKey: rest.sessionKey }));
    const digestTimes: number[] = [];
    const rss: number[] = [];
    for (let i = 0; i < Math.max(3, Math.floor(runs / 5)); i++) {
      const r = await timeProcess(script, ['--execute'], { input: digestPayload, env });
      const summary = withSignature(parseLogLines(r.stderr), 'Modular action script duration')[0];
      if (r.code !== 0 || summary?.fields.handed_off !== '100000') throw new Error(`digest run failed (exit ${r.code})`);
      digestTimes.push(r.ms);
      rss.push(Number(summary.fields.max_rss_kb) / 1024);
    }
    return [
      { name: 'per-result run, 1 row, through hand-off (median)', value: `${fmt(median(actionTimes))} vs node -e 0 ${fmt(median(nodeTimes))} = ${ratio.toFixed(2)}x`, target: '<= 1.5x node -e 0', pass: ratio <= 1.5 },
      { name: 'digest 100,000 rows, every row handed off (median)', value: fmt(median(digestTimes)), target: '<= 2 s', pass: median(digestTimes) <= 2000 },
      { name: 'digest 100,000 rows, peak RSS (max)', value: `${Math.max(...rss).toFixed(0)} MB`, target: '<= 150 MB', pass: Math.max(...rss) <= 150 },
    ];
  } finally {
    await rest.close();
  }
}
