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
import { processSpool } from '../../src/splunk/spool-run';
import { createLogger } from '../../src/splunk/log';
import { dataLayout } from '../../src/store/data-dir';
import { forgetInstallKeys } from '../../src/store/entry-seal';
import { SpoolContext, SpoolStore, spoolStore } from '../../src/store/spool';

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
    assert.equal(received[99_999]!.attacker.address.text, rows[99_999]!.src_ip);
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

  describe('time budget running short: the rest is spooled', () => {
    const T0 = Date.UTC(2026, 0, 1);
    /** A pipeline with an hour's budget, and a clock that jumps past it after `handle` rows. */
    function shortOf(received: AlertRowInput[], handle: number): { pipeline: () => RowPipeline; now: () => Date } {
      const pipeline = (): RowPipeline => ({
        configProblems: [],
        deadlineMs: T0 + 3_600_000,
        handleRow: async (input) => {
          received.push(input);
          return { status: 'handled' };
        },
        flush: async () => ({ failed: 0, degraded: 0 }),
        finish: async () => undefined,
      });
      return { pipeline, now: () => new Date(received.length < handle ? T0 : T0 + 7_200_000) };
    }
    const payload = (file: string) => JSON.stringify({ sid: 'scheduler__a_at_1_1', results_file: file, session_key: 'abc-secret-key', server_uri: 'https://127.0.0.1:8089', search_name: 'S', app: 'search', owner: 'admin' });

    it('spools from the first row not handled, says how many in the closing line, exit 6', async () => {
      const file = dispatchFile(Array.from({ length: 500 }, (_, i) => ({ src_ip: `192.0.2.${i % 250}` })));
      const received: AlertRowInput[] = [];
      const out: string[] = [];
      const puts: { context: SpoolContext; resume: number; indexes: number }[] = [];
      const store = { put: (_fd: number, _gz: boolean, context: SpoolContext, resume: number, indexes: number) => (puts.push({ context, resume, indexes }), ok('/spool/x.json')), recoverStale: () => 0, waiting: () => 0 } as unknown as SpoolStore;
      const short = shortOf(received, 120);
      const summary = await runAlertAction({ ...io(payload(file), out), spool: store, now: short.now }, short.pipeline);
      assert.equal(summary.exitCode, EXIT.DEGRADED);
      assert.deepEqual([summary.rows, summary.spooled], [120, 380]);
      assert.deepEqual(puts.map((p) => [p.resume, p.indexes]), [[120, 500]]);
      assert.ok(!JSON.stringify(puts[0]!.context).includes('abc-secret-key') && !JSON.stringify(puts[0]!.context).includes('8089'), 'no credentials in the spool context');
      const lines = parseLogLines(out.join(''));
      assert.equal(lines[lines.length - 1]!.fields.spooled, '380');
    });

    it('a spool that cannot be written: the rows left count as failed, the payload is kept, exit 4', async () => {
      const file = dispatchFile(Array.from({ length: 50 }, (_, i) => ({ src_ip: `192.0.2.${i}` })));
      const root = mkdtempSync(path.join(dispatches, 'data-'));
      writeFileSync(path.join(root, 'spool'), 'not a folder');
      forgetInstallKeys();
      const out: string[] = [];
      const dead: string[] = [];
      const short = shortOf([], 10);
      const summary = await runAlertAction({ ...io(payload(file), out, dead), spool: spoolStore(dataLayout(root)), now: short.now }, short.pipeline);
      assert.equal(summary.exitCode, EXIT.PARTIAL);
      assert.deepEqual([summary.handedOff, summary.failed, summary.spooled], [10, 40, 0]);
      assert.equal(dead.length, 1);
      assert.match(dead[0]!, /spool failed: 40 row\(s\) from index 10/);
      assert.match(out.join(''), /Cannot spool the rows the time budget left no time for/);
    });
  });

  it('a spool entry whose copy is gone is dead-lettered, not retried', async () => {
    const root = mkdtempSync(path.join(dispatches, 'data-'));
    forgetInstallKeys();
    const store = spoolStore(dataLayout(root));
    const file = dispatchFile([{ src_ip: '192.0.2.1' }]);
    const { openSync, closeSync } = await import('node:fs');
    const fd = openSync(file, 'r');
    const put = store.put(fd, true, { sid: 's', searchName: 'S', app: 'a', owner: 'o', resultsLink: '', configuration: {}, mode: 'digest', baseRid: null }, 0, 1);
    closeSync(fd);
    assert.ok(put.ok);
    for (const n of (await import('node:fs')).readdirSync(path.join(root, 'spool'))) if (n.endsWith('.gz')) rmSync(path.join(root, 'spool', n));
    const out: string[] = [];
    const log = createLogger((t) => out.push(t));
    const received: AlertRowInput[] = [];
    const report = await processSpool({ store, createPipeline: counting(received), secrets: async () => ({ values: {}, origin: {} }), log, logFor: () => log, now: Date.now, startedMs: Date.now(), deadlineMs: Date.now() + 60_000, maxRows: 100 });
    assert.deepEqual([report.refused, report.completed, received.length, store.waiting()], [1, 0, 0, 0]);
    assert.match(out.join(''), /Spooled rows cannot be read; entry kept as a dead letter/);
    assert.equal((await import('node:fs')).readdirSync(path.join(root, 'dead-letters')).length, 1);
  });
});
