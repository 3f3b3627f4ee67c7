/**
 * The alert action with its state in the KV store, as inside Splunk (issue 12):
 *  - per-result run of the packaged bin/soar_response.sh, 1-row results file, secrets read
 *    from storage/passwords and state kept in the KV store, both through one loopback splunkd
 *    stub; warm cache (a first run asked VirusTotal); the card posted to a loopback Discord
 *    stub. Median wall time vs `node -e 0` measured interleaved (target <= 2.5x), and the REST
 *    round trips and TCP connections each run made, counted by the stub;
 *  - digest of 10,000 rows over 500 public addresses, warm cache, state in the KV store:
 *    wall time (<= 3 s), peak RSS (<= 200 MB) and the REST round trips (batched: far fewer
 *    than rows).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startDiscordStub } from '../test/support/discord-stub';
import { startVirusTotalStub } from '../test/support/intel-stubs';
import { actionConfiguration, buildPayload, findActionScript, installApp, Row, writeDispatch } from '../test/support/splunkd-emulator';
import { startRestStub } from '../test/support/splunkd-rest-stub';
import { parseLogLines, withSignature } from '../test/support/splunk-log';
import type { BenchLine } from './alert-action.bench';
import { fmt, median, timeProcess } from './stats';

/** 500 distinct public addresses (as digest.bench.ts). */
function publicAddresses(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) out.push(`${31 + (i % 150)}.${(i * 7) % 250 + 1}.${Math.floor(i / 150) + 1}.${(i * 3) % 250 + 1}`);
  return out;
}

export async function benchKvStore(runs: number): Promise<BenchLine[]> {
  const app = await installApp(undefined, { stateStore: 'kvstore' });
  const rest = await startRestStub({ kvstore: true });
  const vt = await startVirusTotalStub();
  const discord = await startDiscordStub();
  rest.passwords.push(
    { app: 'soar_edr', realm: 'soar_edr', username: 'virustotal_api_key', password: vt.apiKey },
    { app: 'soar_edr', realm: 'soar_edr', username: 'discord_webhook_url', password: discord.webhookUrl },
  );
  const script = findActionScript(app);
  const work = mkdtempSync(path.join(tmpdir(), 'soar-bench-kv-'));
  const env = (dataDir: string) => ({ PATH: process.env.PATH, SPLUNK_HOME: app.splunkHome, SOAR_DATA_DIR: dataDir, SOAR_VIRUSTOTAL_URL: vt.baseUrl, SOAR_WEBHOOK_ALLOWED_HOSTS: discord.hostPort });
  try {
    // Per result: each run a new sid (a new result), renotify_window 0 so each posts its card.
    const dataDir = mkdtempSync(path.join(work, 'per-result-'));
    const payloadFor = (i: number) => {
      const one = writeDispatch(app, [{ src_ip: '138.128.150.133', failure_count: '14', users: ['root', 'admin'] }], 'per_result', `scheduler__admin__search__RMD5kv_at_1764000000_${i}`);
      return JSON.stringify(buildPayload({ sid: one.sid, resultsFile: one.resultsFiles[0]!, configuration: { ...actionConfiguration(app), renotify_window: '0' }, serverUri: rest.url, sessionKey: rest.sessionKey }));
    };
    await timeProcess(script, ['--execute'], { input: payloadFor(0), env: env(dataDir) });
    const nodeTimes: number[] = [];
    const actionTimes: number[] = [];
    const trips: number[] = [];
    const connections: number[] = [];
    for (let i = 1; i <= runs; i++) {
      const payload = payloadFor(i);
      nodeTimes.push((await timeProcess(process.execPath, ['-e', '0'])).ms);
      const [r0, c0] = [rest.requests.length, rest.connections];
      const r = await timeProcess(script, ['--execute'], { input: payload, env: env(dataDir) });
      const lines = parseLogLines(r.stderr);
      if (r.code !== 0 || withSignature(lines, 'Incident recorded').length !== 1 || withSignature(lines, 'Discord notification delivered').length !== 1) {
        throw new Error(`per-result KV store run failed (exit ${r.code}): ${r.stderr}`);
      }
      actionTimes.push(r.ms);
      trips.push(rest.requests.length - r0);
      connections.push(rest.connections - c0);
    }
    if (vt.requests.length !== 1) throw new Error(`expected 1 VirusTotal request (warm cache), got ${vt.requests.length}`);
    const ratio = median(actionTimes) / median(nodeTimes);

    // Digest, warm: the admin's premium budget for the warm-up (as digest.bench.ts).
    const localConf = path.join(app.appDir, 'local', 'soar_edr.conf');
    mkdirSync(path.dirname(localConf), { recursive: true });
    writeFileSync(localConf, '[quota]\nvt_requests_per_minute = 100000\nvt_requests_per_day = 100000\n');
    const ips = publicAddresses(500);
    const rows: Row[] = Array.from({ length: 10_000 }, (_, i) => ({ src_ip: ips[i % 500]!, failure_count: String(11 + (i % 40)), users: ['root', 'admin'] }));
    const digestDir = mkdtempSync(path.join(work, 'digest-'));
    const digest = async (sid: string, rowsToSend: Row[]) => {
      const d = writeDispatch(app, rowsToSend, 'digest', sid);
      const payload = JSON.stringify(buildPayload({ sid, resultsFile: d.resultsFiles[0]!, configuration: actionConfiguration(app), serverUri: rest.url, sessionKey: rest.sessionKey }));
      const before = rest.requests.length;
      const r = await timeProcess(script, ['--execute'], { input: payload, env: env(digestDir) });
      const summary = withSignature(parseLogLines(r.stderr), 'Modular action script duration')[0];
      if (r.code !== 0 || summary === undefined) throw new Error(`KV store digest failed (exit ${r.code}): ${r.stderr.slice(-2000)}`);
      return { ms: r.ms, rss: Number(summary.fields.max_rss_kb) / 1024, handed: summary.fields.handed_off, trips: rest.requests.length - before };
    };
    await digest('scheduler__kvbench_at_1764000000_0', ips.map((ip) => ({ src_ip: ip })));
    const vtAfterWarmUp = vt.requests.length;
    const dTimes: number[] = [];
    const dRss: number[] = [];
    const dTrips: number[] = [];
    for (let i = 1; i <= Math.max(3, Math.floor(runs / 5)); i++) {
      const r = await digest(`scheduler__kvbench_at_1764000000_${i}`, rows);
      if (r.handed !== '10000') throw new Error(`KV store digest handled ${r.handed} rows`);
      dTimes.push(r.ms);
      dRss.push(r.rss);
      dTrips.push(r.trips);
    }
    if (vt.requests.length !== vtAfterWarmUp) throw new Error('a warm-cache KV store digest asked VirusTotal');
    return [
      {
        name: 'per-result run, KV store state, secrets from storage/passwords, warm cache (median)',
        value: `${fmt(median(actionTimes))} vs node -e 0 ${fmt(median(nodeTimes))} = ${ratio.toFixed(2)}x; ${Math.max(...trips)} REST round trips over ${Math.max(...connections)} connection(s) per run`,
        target: '<= 2.5x node -e 0, <= 3 round trips, 1 connection',
        pass: ratio <= 2.5 && Math.max(...trips) <= 3 && Math.max(...connections) <= 1,
      },
      { name: 'digest 10,000 rows / 500 addresses, KV store state, warm cache (median)', value: `${fmt(median(dTimes))}, ${median(dTrips)} REST round trips`, target: '<= 3 s, batched (round trips << rows)', pass: median(dTimes) <= 3000 && median(dTrips) < 10_000 },
      { name: 'digest 10,000 rows, KV store state, peak RSS (max)', value: `${Math.max(...dRss).toFixed(0)} MB`, target: '<= 200 MB', pass: Math.max(...dRss) <= 200 },
    ];
  } finally {
    await rest.close();
    await vt.close();
    await discord.close();
    rmSync(work, { recursive: true, force: true });
    rmSync(app.splunkHome, { recursive: true, force: true });
  }
}
