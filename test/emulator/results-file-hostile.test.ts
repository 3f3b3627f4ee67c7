/**
 * Hostile results files through the packaged app (issue 11, items 3 and 5): a FIFO,
 * /dev/zero behind a results-file name, a directory, a gzip bomb, and a 100 MB field
 * between valid rows. Each refusal is prompt, exits 3 with an ERROR and keeps the payload
 * as a dead letter; a malformed record costs only itself.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { incidentRows } from '../support/data-files';
import { withSignature } from '../support/splunk-log';
import { actionConfiguration, ActionRun, buildPayload, InstalledApp, installApp, resultsCsv, runAction } from '../support/splunkd-emulator';

function closing(run: ActionRun): Record<string, string> {
  const s = withSignature(run.lines, 'Modular action script duration');
  assert.equal(s.length, 1, `one closing line expected:\n${run.stderr.slice(-3000)}`);
  return s[0]!.fields;
}

describe('hostile results files through the splunkd emulator', function () {
  this.timeout(120_000);
  let app: InstalledApp;
  let dataDir: string;
  let dispatch: string;

  before(async () => {
    app = await installApp();
  });
  after(() => rmSync(app.splunkHome, { recursive: true, force: true }));
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-data-'));
    dispatch = path.join(app.splunkHome, 'var', 'run', 'splunk', 'dispatch', `scheduler__admin__search__RMD5hostile_at_1764000000_${Date.now()}`);
    mkdirSync(dispatch, { recursive: true });
  });
  afterEach(() => {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(dispatch, { recursive: true, force: true });
  });

  const run = (resultsFile: string) =>
    runAction(app, buildPayload({ sid: path.basename(dispatch), resultsFile, configuration: actionConfiguration(app), serverUri: '', sessionKey: '' }), {
      env: { SOAR_DATA_DIR: dataDir },
    });

  function deadLetters(): string[] {
    const dir = path.join(dataDir, 'dead-letters');
    return existsSync(dir) ? readdirSync(dir) : [];
  }

  function assertRefused(r: ActionRun, kind: string): void {
    assert.equal(r.code, 3, r.stderr);
    const err = withSignature(r.lines, 'Cannot read results_file');
    assert.equal(err.length, 1, r.stderr);
    assert.equal(err[0]!.level, 'ERROR');
    assert.equal(err[0]!.fields.reason, kind, r.stderr);
    assert.equal(deadLetters().length, 1, 'the payload is kept as a dead letter');
    assert.equal(closing(r).exit_code, '3');
  }

  const fast: [string, () => string, string][] = [
    ['a FIFO named results.csv.gz', () => {
      const p = path.join(dispatch, 'results.csv.gz');
      execFileSync('mkfifo', [p]);
      return p;
    }, 'not_regular'],
    ['a symlink results.csv.gz -> /dev/zero', () => {
      const p = path.join(dispatch, 'results.csv.gz');
      symlinkSync('/dev/zero', p);
      return p;
    }, 'symlink'],
    ['a directory named results.csv.gz', () => {
      const p = path.join(dispatch, 'results.csv.gz');
      mkdirSync(p);
      return p;
    }, 'not_regular'],
    ['/dev/zero named as the results file', () => '/dev/zero', 'not_regular'],
  ];
  for (const [what, make, kind] of fast) {
    it(`refuses ${what} at once: exit 3, ERROR reason=${kind}, dead letter kept`, async () => {
      const r = await run(make());
      assertRefused(r, kind);
      // In-process time to the refusal (the process start is the machine's, not ours).
      assert.ok(Number(closing(r).duration) < 1000, `refused in ${closing(r).duration} ms`);
      assert.ok(r.ms < 15_000, `no hang: ${r.ms} ms`);
    });
  }

  it('refuses a character device (/dev/zero) under a .csv.gz name: what the reader sees is the device, not the name', async function () {
    const p = path.join(dispatch, 'results.csv.gz');
    try {
      execFileSync('mknod', [p, 'c', '1', '5'], { stdio: 'ignore' });
    } catch {
      this.skip(); // needs root or CAP_MKNOD; the symlink case above covers the same reader path
    }
    const r = await run(p);
    assertRefused(r, 'not_regular');
    assert.ok(r.stderr.includes('character device'), r.stderr);
    assert.ok(Number(closing(r).duration) < 1000);
  });

  it('a gzip bomb past the uncompressed cap is refused with memory bounded; the rows before it are handled', async () => {
    // Gzip members concatenated: 64 MiB of zeros each, 65 of them (4.06 GiB), after a valid header and rows.
    const head = gzipSync(resultsCsv([{ src_ip: '10.1.2.3' }, { src_ip: '10.1.2.4' }]));
    const member = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
    const p = path.join(dispatch, 'results.csv.gz');
    writeFileSync(p, Buffer.concat([head, ...Array.from({ length: 65 }, () => member)]));
    const r = await run(p);
    assertRefused(r, 'too_large_uncompressed');
    const c = closing(r);
    assert.equal(c.handed_off, '2', 'the rows before the bomb are handled');
    assert.ok(Number(c.max_rss_kb) < 400 * 1024, `max_rss_kb ${c.max_rss_kb}: memory stays bounded, far under the 4 GiB cap`);
    assert.equal(incidentRows(dataDir).length, 2);
  });

  it('a 100 MB field between valid rows: that record is skipped with one ERROR naming it, every valid row after it is recorded, exit 4', async () => {
    const before = resultsCsv(Array.from({ length: 3 }, (_, i) => ({ src_ip: `10.0.0.${i + 1}` })));
    const lines = before.trimEnd().split('\n');
    const columns = lines[0]!.split(',').length;
    const row = (ip: string) => [String(1_764_000_100), ip, ...Array.from({ length: columns - 2 }, () => '')].join(',');
    const big = `${String(1_764_000_099)},"${'A'.repeat(100 * 1024 * 1024)}"${',' .repeat(columns - 2)}`;
    const text = [...lines, big, row('10.0.0.4'), row('10.0.0.5'), row('10.0.0.6')].join('\n') + '\n';
    const p = path.join(dispatch, 'results.csv.gz');
    writeFileSync(p, gzipSync(text, { level: 1 }));
    const r = await run(p);
    assert.equal(r.code, 4, r.stderr.slice(-3000));
    const skipped = r.lines.filter((l) => l.level === 'ERROR');
    assert.equal(skipped.length, 1, r.stderr.slice(-3000));
    assert.equal(skipped[0]!.fields.reason, 'malformed_record_too_large');
    assert.equal(skipped[0]!.fields.rid, '3');
    assert.equal(skipped[0]!.fields.line, '5');
    const csv = incidentRows(dataDir);
    assert.deepEqual(csv.map((c) => [c.rid, c.src_ip]).sort(), [['0', '10.0.0.1'], ['1', '10.0.0.2'], ['2', '10.0.0.3'], ['4', '10.0.0.4'], ['5', '10.0.0.5'], ['6', '10.0.0.6']]);
    const c = closing(r);
    assert.deepEqual([c.rows, c.handed_off, c.rejected, c.exit_code], ['7', '6', '1', '4']);
    assert.equal(deadLetters().length, 0, 'a skipped record is not a bad payload');
  });
});
