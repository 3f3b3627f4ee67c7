/**
 * The shell around the analysis commands (src/cli/analysis-input.ts): opening inputs, the
 * streamed --attempts output (src/cli/output-format.ts) into a file or a slow reader, and the
 * read held back meanwhile.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { readText } from '../../src/analysis/log-stream';
import { gatedInput, InputReader, inputNames, openInput, progressText, readInputs, startProgress } from '../../src/cli/analysis-input';
import type { InputReport } from '../../src/cli/failure-summary';
import { fileOutput, stdoutOutput } from '../../src/cli/output-format';
import type { CliIO } from '../../src/cli/runtime';
import { corpusPath } from '../support/paths';
import { slowReader } from '../support/writables';

const SSH = corpusPath('sshd', 'loghub_SSH_2k.log');

function fakeIo(stderrIsTty = false): CliIO & { err: string[] } {
  const err: string[] = [];
  return {
    err,
    env: {},
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: { isTTY: stderrIsTty, write: (t: string) => (err.push(t), true) } as unknown as NodeJS.WriteStream,
    setExitCode: () => undefined,
  };
}

describe('cli/analysis-input', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'soar-analysis-input-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads stdin when no FILE is given unless it is a terminal; "-" only once', () => {
    assert.deepEqual(inputNames([], false), { ok: true, value: ['-'] });
    const tty = inputNames([], true);
    assert.ok(!tty.ok);
    assert.match(tty.error.message, /name a FILE/);
    assert.deepEqual(inputNames(['a', '-', 'b'], true), { ok: true, value: ['a', '-', 'b'] });
    const twice = inputNames(['-', '-'], false);
    assert.ok(!twice.ok);
    assert.equal(twice.error.kind, 'usage');
  });

  it('opens a file with its size and reports a missing file or a directory up front', async () => {
    const io = fakeIo();
    const opened = openInput(io, SSH);
    assert.ok(opened.ok);
    assert.equal(opened.value.size, 223_217);
    let bytes = 0;
    const read = await readText(gatedInput(opened.value.stream).readable, (t) => (bytes += Buffer.byteLength(t)));
    assert.ok(read.ok);
    assert.equal(bytes, readFileSync(SSH).length);
    const missing = openInput(io, path.join(dir, 'nope.log'));
    assert.ok(!missing.ok);
    assert.match(missing.error.message, /nope\.log: no such file or directory$/);
    const folder = openInput(io, dir);
    assert.ok(!folder.ok);
    assert.match(folder.error.message, /it is a directory$/);
    const stdin = openInput(io, '-');
    assert.ok(stdin.ok);
    assert.equal(stdin.value.size, null);
  });

  it('writes a file output in place only when finished, and removes it when aborted', async () => {
    const target = path.join(dir, 'sub', 'attempts.csv');
    const out = fileOutput(target);
    assert.ok(out.ok);
    const text = readFileSync(SSH, 'utf8');
    for (const line of text.split('\n')) out.value.write(line + '\n');
    assert.equal(existsSync(target), false, 'nothing at FILE before finish()');
    assert.deepEqual(await out.value.finish(), { ok: true, value: undefined });
    assert.equal(readFileSync(target, 'utf8'), text + '\n');
    assert.deepEqual(readdirSync(path.dirname(target)), ['attempts.csv'], 'no temporary file left');

    const aborted = fileOutput(path.join(dir, 'aborted.csv'));
    assert.ok(aborted.ok);
    aborted.value.write('x\n');
    aborted.value.abort();
    assert.ok(!readdirSync(dir).some((f) => f.startsWith('aborted.csv')));
  });

  it('refuses an output path below a file', () => {
    const file = path.join(dir, 'plain-file');
    writeFileSync(file, 'x');
    const out = fileOutput(path.join(file, 'attempts.csv'));
    assert.ok(!out.ok);
    assert.equal(out.error.kind, 'output-failed');
    assert.match(out.error.message, /cannot write .*plain-file\/attempts\.csv: a part of the path is not a directory/);
  });

  it('holds the input back while a slow reader drains the output: bounded memory', async () => {
    const text = readFileSync(SSH);
    const rounds = 30; // 30 x 223 KB = 6.7 MB through a reader taking 64 KiB per 10 ms
    let produced = 0;
    const source = new Readable({
      highWaterMark: 64 * 1024,
      read() {
        this.push(produced++ < rounds ? text : null);
      },
    });
    const slow = slowReader(10);
    const out = stdoutOutput(slow);
    const gated = gatedInput(source, () => out.waitForOutput());
    let written = 0;
    let maxAhead = 0;
    const read = await readText(gated.readable, (t) => {
      out.write(t);
      written += Buffer.byteLength(t);
      maxAhead = Math.max(maxAhead, written - slow.received);
    });
    assert.ok(read.ok);
    assert.deepEqual(await out.finish(), { ok: true, value: undefined });
    assert.equal(slow.received, text.length * rounds);
    assert.ok(maxAhead < 3 * 1024 * 1024, `at most a few chunks ahead of the reader, was ${maxAhead} bytes`);
  });

  it('stops quietly when the reader goes away (EPIPE), and reports other write errors', async () => {
    const broken = (code: string) =>
      new Writable({
        write(_c, _e, done) {
          done(Object.assign(new Error(`write ${code}`), { code }));
        },
      });
    const gone = stdoutOutput(broken('EPIPE'));
    gone.write('x'.repeat(70_000));
    await new Promise((r) => setImmediate(r));
    gone.write('more');
    assert.deepEqual(await gone.finish(), { ok: true, value: undefined });
    const full = stdoutOutput(broken('ENOSPC'));
    full.write('x'.repeat(70_000));
    await new Promise((r) => setImmediate(r));
    const r = await full.finish();
    assert.ok(!r.ok);
    assert.match(r.error.message, /cannot write to standard output: write ENOSPC/);
  });

  it('lets go of the reader once it returns: nothing on the stack of the last read reaches it', () => {
    // In its own process: when readInputs has returned, the reader's state (standing for an
    // analysis of many MB) must be garbage before the report is rendered. A heap snapshot
    // taken right there (it collects first) must hold no ReaderState object.
    const script = `
      const { readInputs } = require(${JSON.stringify(path.resolve(__dirname, '../../src/cli/analysis-input.js'))});
      const { readLines } = require(${JSON.stringify(path.resolve(__dirname, '../../src/analysis/log-stream.js'))});
      const v8 = require('node:v8');
      const io = { env: {}, stdin: process.stdin, stdout: process.stdout, stderr: { isTTY: false, write: () => true }, setExitCode() {} };
      class ReaderState { constructor() { this.lines = 0; } }
      function start() {
        const state = new ReaderState();
        const reader = {
          read: (readable, tally) => readLines(readable, () => { tally.records += 1; state.lines += 1; }),
          whole: (r) => ({ bytes: r.bytes, gzip: r.gzip, records: r.lines }),
        };
        return readInputs(io, [${JSON.stringify(SSH)}, ${JSON.stringify(SSH)}], reader);
      }
      start().then((inputs) => {
        const snap = JSON.parse(require('node:fs').readFileSync(v8.writeHeapSnapshot(${JSON.stringify(path.join(dir, 'reader.heapsnapshot'))}), 'utf8'));
        const { node_fields: fields, node_types: [types] } = snap.snapshot.meta;
        const [typeAt, nameAt] = [fields.indexOf('type'), fields.indexOf('name')];
        let alive = 0;
        for (let i = 0; i < snap.nodes.length; i += fields.length) {
          if (types[snap.nodes[i + typeAt]] === 'object' && snap.strings[snap.nodes[i + nameAt]] === 'ReaderState') alive += 1;
        }
        process.stdout.write(JSON.stringify({ records: inputs.map((i) => i.records), alive }));
      });`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { records: number[]; alive: number };
    assert.deepEqual(out.records, [2000, 2000]);
    assert.equal(out.alive, 0, 'the reader was still reachable after readInputs returned');
  });

  it('closes a file its reader stopped reading early, and goes on to the next', async () => {
    const fds = (): string[] => readdirSync('/proc/self/fd');
    const before = fds().length;
    let calls = 0;
    const reader: InputReader<number> = {
      // Returns at once, as a reader does that stops at an oversized record: the rest is unread.
      read: async () => {
        calls += 1;
        return { ok: true, value: calls };
      },
      whole: (n) => ({ bytes: n, gzip: false, records: 0 }),
    };
    const timeout = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000).unref());
    const inputs = await Promise.race([readInputs(fakeIo(), [SSH, SSH], reader), timeout]);
    assert.notEqual(inputs, 'hung', 'readInputs never returned: it waited for a file nobody closed');
    assert.deepEqual((inputs as InputReport[]).map((i) => i.bytes), [1, 2]);
    assert.equal(fds().length, before, 'a file descriptor was left open');
  });

  it('shows progress only on a terminal, after the first second', async () => {
    const piped = fakeIo(false);
    const p1 = startProgress(piped, () => 'reading');
    await new Promise((r) => setTimeout(r, 1_300));
    p1.stop();
    assert.deepEqual(piped.err, []);
    const tty = fakeIo(true);
    const quick = startProgress(tty, () => 'reading');
    quick.stop();
    const slow = startProgress(tty, () => 'reading');
    await new Promise((r) => setTimeout(r, 1_300));
    slow.stop();
    assert.ok(tty.err.length >= 2, 'drawn, then cleared');
    assert.equal(tty.err[0], '\rreading\x1b[K');
    assert.equal(tty.err[tty.err.length - 1], '\r\x1b[K');
    assert.equal(progressText(12_300_000, 1_000_000_000), '12.3 MB of 1.0 GB (1%)');
    assert.equal(progressText(5_000_000, null), '5.0 MB');
  });
});
