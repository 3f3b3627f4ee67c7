/**
 * The contract layer in-process: runAlertAction with a pipeline that only counts what it is
 * handed, to check the hand-off itself (every row, in order, streamed) at sizes the full
 * pipeline would take minutes for.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseStringPromise } from 'xml2js';
import { AlertRowInput, AlertRunIO, RowPipeline, runAlertAction } from '../../src/splunk/alert-run';
import { EXIT } from '../../src/splunk/exit-codes';
import { ok } from '../../src/result';
import { parseLogLines, withSignature } from '../support/splunk-log';
import { resultsCsv, Row } from '../support/splunkd-emulator';

function io(stdin: string, out: string[], deadLetters: string[] = []): AlertRunIO {
  return {
    args: ['--execute'],
    readStdin: async () => stdin,
    writeStderr: (t) => out.push(t),
    env: {},
    now: () => new Date(),
    parseXml: (t) => parseStringPromise(t),
    fetchStoredSecrets: async () => ok({}),
    maxRssKb: () => process.resourceUsage().maxRSS,
    keepDeadLetter: (text, reason) => {
      deadLetters.push(`${reason}\n${text}`);
      return '/dead/letter.json';
    },
  };
}

function counting(received: AlertRowInput[], behaviour: (i: AlertRowInput) => 'ok' | 'degraded' | 'fail' = () => 'ok'): () => RowPipeline {
  return () => ({
    configProblems: [],
    handleRow: async (input) => {
      received.push(input);
      const b = behaviour(input);
      if (b === 'fail') return { status: 'failed', error: { kind: 'boom', message: 'pipeline failure' } };
      return b === 'degraded' ? { status: 'handled', degraded: 'virustotal: transient' } : { status: 'handled' };
    },
    finish: async () => undefined,
  });
}

/** The suite's temp folder (made and removed by its hooks); one dispatch folder in it per file. */
let dispatches: string;
function dispatchFile(rows: Row[]): string {
  const file = path.join(mkdtempSync(path.join(dispatches, 'dispatch-')), 'results.csv.gz');
  writeFileSync(file, gzipSync(resultsCsv(rows)));
  return file;
}

describe('splunk/alert-run (in-process)', function () {
  this.timeout(60_000);
  before(() => {
    dispatches = mkdtempSync(path.join(tmpdir(), 'soar-run-'));
  });
  after(() => rmSync(dispatches, { recursive: true, force: true }));

  it('digest of 100,000 rows: every row parsed and handed off in order, exit 0', async () => {
    const rows: Row[] = Array.from({ length: 100_000 }, (_, i) => ({
      src_ip: `${11 + (i % 200)}.${(i >> 8) & 255}.${i & 255}.${(i * 7) % 254 + 1}`,
      users: i % 3 === 0 ? ['root', 'admin'] : 'root',
    }));
    const file = dispatchFile(rows);
    const received: AlertRowInput[] = [];
    const out: string[] = [];
    const summary = await runAlertAction(io(JSON.stringify({ sid: 'scheduler__a_at_1_1', results_file: file }), out), counting(received));
    assert.equal(summary.exitCode, EXIT.OK);
    assert.equal(received.length, 100_000);
    assert.equal(received[99_999]!.rid, '99999');
    assert.equal(received[99_999]!.attacker.address, rows[99_999]!.src_ip);
    assert.deepEqual(received[3]!.row.users, ['root', 'admin']);
    const closing = withSignature(parseLogLines(out.join('')), 'Modular action script duration')[0]!;
    assert.equal(closing.fields.handed_off, '100000');
  });

  it('a pipeline failure is exit 4, a degraded row exit 6, and the rest still run', async () => {
    const file = dispatchFile([{ src_ip: '198.51.100.1' }, { src_ip: '198.51.100.2' }, { src_ip: '198.51.100.3' }]);
    const payload = JSON.stringify({ sid: 'scheduler__a_at_1_1', results_file: file });
    const failing: AlertRowInput[] = [];
    const r1 = await runAlertAction(io(payload, []), counting(failing, (i) => (i.rid === '1' ? 'fail' : 'ok')));
    assert.deepEqual([r1.exitCode, r1.failed, r1.handedOff, failing.length], [EXIT.PARTIAL, 1, 2, 3]);
    const r2 = await runAlertAction(io(payload, []), counting([], (i) => (i.rid === '2' ? 'degraded' : 'ok')));
    assert.deepEqual([r2.exitCode, r2.degraded, r2.handedOff], [EXIT.DEGRADED, 1, 3]);
  });

  it('keeps an unreadable payload as a dead letter, with the session key blanked', async () => {
    const dead: string[] = [];
    const out: string[] = [];
    const r = await runAlertAction(io('{"session_key":"abc-secret-key","sid":', out, dead), counting([]));
    assert.equal(r.exitCode, EXIT.BAD_PAYLOAD);
    assert.equal(dead.length, 1);
    assert.match(dead[0]!, /^syntax: /);
    assert.ok(dead[0]!.includes('"session_key":""'), dead[0]);
    assert.ok(!dead[0]!.includes('abc-secret-key'));
    assert.match(out.join(''), /Payload kept as a dead letter/);
  });
});
