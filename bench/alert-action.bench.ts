/**
 * Alert action benchmarks:
 *  - per-result run of the packaged bin/soar_response.sh as splunkd runs it, 1-row results
 *    file, secrets from a loopback storage/passwords stub, the full incident pipeline with a
 *    warm cache (VirusTotal answer cached by a first run), the record written, the Discord
 *    card posted to a loopback stub: median wall time vs `node -e 0` measured interleaved
 *    (issue 3's target, <= 2x; issue 2's 1.5x was for the foundation's log-only hand-off),
 *    and against the lab IR script in Python (seed002_ir.py in SOAR_BASELINES_DIR, when given) on the same stub;
 *  - the contract layer handing a 100,000-row digest to the pipeline (a counting pipeline in a
 *    child process): wall time (<= 2 s) and peak RSS (<= 150 MB).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startDiscordStub } from '../test/support/discord-stub';
import { startVirusTotalStub } from '../test/support/intel-stubs';
import { actionConfiguration, buildPayload, installApp, findActionScript, Row, writeDispatch } from '../test/support/splunkd-emulator';
import { baselineScript, skippedBaseline } from './child-measure';
import { startRestStub } from '../test/support/splunkd-rest-stub';
import { parseLogLines, withSignature } from '../test/support/splunk-log';
import { fmt, median, timeProcess } from './stats';

export interface BenchLine {
  readonly name: string;
  readonly value: string;
  readonly target: string;
  readonly pass: boolean;
  /** a comparison that could not run here (its baseline is missing) */
  readonly skipped?: boolean;
}

export async function benchAlertAction(runs: number): Promise<BenchLine[]> {
  const app = await installApp();
  const rest = await startRestStub();
  const vt = await startVirusTotalStub();
  const discord = await startDiscordStub();
  rest.passwords.push(
    { app: 'soar_edr', realm: 'soar_edr', username: 'virustotal_api_key', password: vt.apiKey },
    { app: 'soar_edr', realm: 'soar_edr', username: 'discord_webhook_url', password: discord.webhookUrl },
  );
  const script = findActionScript(app);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'soar-bench-'));
  const env = { PATH: process.env.PATH, SPLUNK_HOME: app.splunkHome, SOAR_DATA_DIR: dataDir, SOAR_VIRUSTOTAL_URL: vt.baseUrl, SOAR_WEBHOOK_ALLOWED_HOSTS: discord.hostPort };
  try {
    const nodeTimes: number[] = [];
    const actionTimes: number[] = [];
    const seedTimes: number[] = [];
    const seedScript = baselineScript('seed002_ir.py');
    const seedEnv = { PATH: process.env.PATH, HOME: process.env.HOME, SOAR_VIRUSTOTAL_URL: vt.baseUrl, SOAR_VIRUSTOTAL_API_KEY: vt.apiKey, BASELINE_OUT: path.join(dataDir, 'seed002') };
    // Each run is a new result (a new sid), so each records and notifies; renotify_window 0 so
    // every run posts its card. The first run warms the cache and the page cache.
    const payloadFor = (i: number) => {
      const one = writeDispatch(app, [{ src_ip: '138.128.150.133', failure_count: '14', users: ['root', 'admin'] }], 'per_result', `scheduler__admin__search__RMD5bench_at_1764000000_${i}`);
      return JSON.stringify(buildPayload({ sid: one.sid, resultsFile: one.resultsFiles[0]!, configuration: { ...actionConfiguration(app), renotify_window: '0' }, serverUri: rest.url, sessionKey: rest.sessionKey }));
    };
    await timeProcess(script, ['--execute'], { input: payloadFor(0), env });
    for (let i = 1; i <= runs; i++) {
      const payload = payloadFor(i);
      nodeTimes.push((await timeProcess(process.execPath, ['-e', '0'])).ms);
      const r = await timeProcess(script, ['--execute'], { input: payload, env });
      const lines = parseLogLines(r.stderr);
      if (r.code !== 0 || withSignature(lines, 'Incident recorded').length !== 1 || withSignature(lines, 'Discord notification delivered').length !== 1) {
        throw new Error(`per-result run failed (exit ${r.code}): ${r.stderr}`);
      }
      actionTimes.push(r.ms);
      // The seed's Python script doing its version of the same job against the same stub.
      if (seedScript !== null) {
        const seed = await timeProcess('python3', [seedScript, '138.128.150.133'], { env: seedEnv });
        if (seed.code !== 0 || !seed.stdout.includes('[SIMULATION] Blocking IP')) throw new Error(`seed002_ir.py failed: ${seed.stderr}`);
        seedTimes.push(seed.ms);
      }
    }
    const vtFromUs = vt.requests.length - seedTimes.length;
    if (vtFromUs !== 1) throw new Error(`expected 1 VirusTotal request from the action (warm cache), got ${vtFromUs}`);
    const ratio = median(actionTimes) / median(nodeTimes);

    const rows: Row[] = Array.from({ length: 100_000 }, (_, i) => ({
      src_ip: `${11 + (i % 200)}.${(i >> 8) & 255}.${i & 255}.${(i * 7) % 254 + 1}`,
      failure_count: String(11 + (i % 50)),
      users: i % 3 === 0 ? ['root', 'admin'] : 'root',
      attack_type: 'SSH Brute Force',
    }));
    const digest = writeDispatch(app, rows, 'digest');
    const digestPayload = JSON.stringify(buildPayload({ sid: digest.sid, resultsFile: digest.resultsFiles[0]!, configuration: actionConfiguration(app) }));
    const digestTimes: number[] = [];
    const rss: number[] = [];
    for (let i = 0; i < Math.max(3, Math.floor(runs / 5)); i++) {
      const r = await timeProcess(process.execPath, [path.join(__dirname, 'digest-handoff.js')], { input: digestPayload });
      const out = JSON.parse(r.stdout) as { rows: number; exitCode: number; maxRssKb: number };
      if (r.code !== 0 || out.rows !== 100_000 || out.exitCode !== 0) throw new Error(`digest run failed: ${r.stdout} ${r.stderr}`);
      digestTimes.push(r.ms);
      rss.push(out.maxRssKb / 1024);
    }
    return [
      { name: 'per-result run, 1 row, full pipeline, warm cache (median)', value: `${fmt(median(actionTimes))} vs node -e 0 ${fmt(median(nodeTimes))} = ${ratio.toFixed(2)}x`, target: '<= 2x node -e 0', pass: ratio <= 2 },
      seedScript === null
        ? skippedBaseline('per-result run vs the lab IR script (Python), same stub', 'seed002_ir.py')
        : { name: 'per-result run vs the lab IR script (Python), same stub (median)', value: `${fmt(median(actionTimes))} vs ${fmt(median(seedTimes))} (python3 + requests; asks VirusTotal every time)`, target: 'faster', pass: median(actionTimes) < median(seedTimes) },
      { name: 'digest 100,000 rows parsed and handed off (median)', value: fmt(median(digestTimes)), target: '<= 2 s', pass: median(digestTimes) <= 2000 },
      { name: 'digest 100,000 rows, peak RSS (max)', value: `${Math.max(...rss).toFixed(0)} MB`, target: '<= 150 MB', pass: Math.max(...rss) <= 150 },
    ];
  } finally {
    await rest.close();
    await vt.close();
    await discord.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(app.splunkHome, { recursive: true, force: true });
  }
}
