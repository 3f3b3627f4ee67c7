/**
 * The detections in the built app: the package (dist/soar_edr-<version>.tgz, built by
 * build/package.mjs, which copies default/ whole) holds every detection .conf unchanged, and a
 * row each detection returns, handed to the packaged soar_response action the way splunkd does
 * (per-result dispatch, the saved search's params merged over alert_actions.conf), becomes an
 * incident with the detection's name, failure count, users, attack type, severity and times.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { incidentRows } from '../support/data-files';
import { withSignature } from '../support/splunk-log';
import { actionConfiguration, buildPayload, InstalledApp, installApp, Row as ResultRow, runAction, writeDispatch } from '../support/splunkd-emulator';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';
import type { FormatName } from '../../src/generator/formats';
import type { ScenarioName } from '../../src/generator/scenarios';
import { defaultConfPath, loadDetections, loadSearchTime } from './app-conf';
import { indexLines, runDetection } from './detection-run';
import { generateAttempts } from './event-sources';
import type { Row } from './spl-pipeline';

const DETECTION_CONFS = ['props.conf', 'transforms.conf', 'eventtypes.conf', 'tags.conf', 'macros.conf', 'savedsearches.conf'];

/** A detection row as splunkd writes it into the results file: text, multivalues as lists. */
function resultRow(row: Row): ResultRow {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of row) if (v !== null) out[k] = Array.isArray(v) ? v.map(String) : String(v);
  return out;
}

describe('detections: in the packaged app', function () {
  this.timeout(120_000);
  let app: InstalledApp;
  const temporary: string[] = [];
  before(async () => {
    app = await installApp();
    temporary.push(app.splunkHome);
  });
  after(() => {
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
  });

  it('the package holds every default/*.conf byte for byte (build/package.mjs copies default/ whole)', () => {
    const inRepo = readdirSync(path.dirname(defaultConfPath('x'))).filter((f) => f.endsWith('.conf')).sort();
    for (const f of DETECTION_CONFS) assert.ok(inRepo.includes(f), f);
    const packaged = readdirSync(path.join(app.appDir, 'default')).filter((f) => f.endsWith('.conf')).sort();
    assert.deepEqual(packaged, inRepo);
    for (const f of inRepo) {
      // The test install sets [state] store = file in its copy (splunkd-emulator.ts installApp); the package ships auto.
      const installed = readFileSync(path.join(app.appDir, 'default', f), 'utf8');
      assert.equal(
        f === 'soar_edr.conf' ? installed.replace(/^store = file$/m, 'store = auto') : installed,
        readFileSync(defaultConfPath(f), 'utf8'),
        `dist package is stale for default/${f}: run "npm run package" (npm test does)`,
      );
    }
  });

  describe('a row of each detection, handed to the packaged soar_response action', () => {
    let rest: RestStub;
    before(async () => {
      rest = await startRestStub();
    });
    after(async () => {
      await rest.close();
    });

    const cases: [string, ScenarioName, FormatName][] = [
      ['SOAR-EDR - SSH brute force', 'fast-bruteforce', 'sshd'],
      ['SOAR-EDR - Windows failed-logon brute force', 'fast-bruteforce', 'win4625'],
      ['SOAR-EDR - Successful login after failures', 'success-after-failures', 'kv'],
      ['SOAR-EDR - Password spraying', 'password-spray', 'sshd'],
      ['SOAR-EDR - Distributed brute force', 'distributed', 'sshd'],
    ];
    const st = loadSearchTime();
    const detections = loadDetections();
    for (const [name, scenario, format] of cases) {
      it(`${name}: becomes an incident with the row's fields`, async () => {
        const d = detections.find((x) => x.name === name)!;
        const start = Date.UTC(2024, 4, 1, 12, 0, 0);
        const gen = generateAttempts({ scenario, format, family: 'ipv4', seed: `handoff-${scenario}`, startMs: start, maxAttempts: 20_000, untilMs: start + 20 * 60_000 });
        const [row] = runDetection(d, indexLines(st, gen.flatMap((g) => g.lines)));
        assert.ok(row, `${name} fires on ${scenario}`);
        const result = resultRow(row);
        const dataDir = mkdtempSync(path.join(tmpdir(), 'soar-detections-'));
        temporary.push(dataDir);
        const dispatch = writeDispatch(app, [result], 'per_result');
        const payload = buildPayload({
          sid: dispatch.sid,
          resultsFile: dispatch.resultsFiles[0]!,
          configuration: actionConfiguration(app, Object.fromEntries(d.settings)),
          result,
          searchName: name,
          serverUri: rest.url,
          sessionKey: rest.sessionKey,
        });
        const run = await runAction(app, payload, { env: { SOAR_DATA_DIR: dataDir } });
        assert.equal(run.code, 0, run.stderr);
        assert.equal(withSignature(run.lines, 'Incident recorded').length, 1, run.stderr);
        const [incident, ...more] = incidentRows(dataDir);
        assert.equal(more.length, 0);
        const users = Array.isArray(result.users) ? result.users : [result.users as string];
        assert.deepEqual(
          ['detection', 'src_ip', 'failure_count', 'users', 'attack_type', 'severity', 'first_seen', 'last_seen'].map((k) => incident![k]),
          [name, result.src_ip, result.failure_count, users.join(';'), result.attack_type, result.severity, result.first_seen, result.last_seen],
        );
      });
    }
  });
});
