import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { appendDurably, createExclusive, fileSize, readJsonIfExists, trimPartialLastLine, writeFileAtomic } from '../../src/store/durable-file';
import { LockTimeoutError, withFileLock } from '../../src/store/file-lock';
import { resolveDataDir } from '../../src/store/data-dir';

const OUT = path.resolve(__dirname, '../../src/store');

function runNode(script: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['-e', script]);
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d));
    c.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

describe('store', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'soar-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves the data directory as DESIGN.md §3 says', () => {
    assert.equal(resolveDataDir({ SOAR_DATA_DIR: '/data/x', SPLUNK_HOME: '/opt/splunk' }, '/home/u'), '/data/x');
    assert.equal(resolveDataDir({ SPLUNK_HOME: '/opt/splunk' }, '/home/u'), '/opt/splunk/var/lib/soar_edr');
    assert.equal(resolveDataDir({ XDG_DATA_HOME: '/xdg' }, '/home/u'), '/xdg/soar-edr');
    assert.equal(resolveDataDir({}, '/home/u'), '/home/u/.local/share/soar-edr');
  });

  it('writeFileAtomic replaces the content and leaves no temporary file', () => {
    const f = path.join(dir, 'sub', 'state.json');
    writeFileAtomic(f, '{"a":1}');
    writeFileAtomic(f, '{"a":2}');
    assert.deepEqual(readJsonIfExists(f), { value: { a: 2 } });
    assert.deepEqual(readdirSync(path.dirname(f)), ['state.json']);
  });

  it('createExclusive claims a new name once, never overwrites, and makes missing folders', () => {
    const f = path.join(dir, 'reports', 'INC-1.txt');
    assert.equal(createExclusive(f, 'first', { durable: false }), true);
    assert.equal(createExclusive(f, 'second'), false);
    assert.equal(readFileSync(f, 'utf8'), 'first');
    assert.deepEqual(readdirSync(path.dirname(f)), ['INC-1.txt']);
    // Any other failure is thrown, not reported as "taken".
    assert.throws(() => createExclusive(path.join(f, 'under-a-file'), 'x'), /ENOTDIR/);
  });

  it('readJsonIfExists tells missing from corrupt', () => {
    assert.equal(readJsonIfExists(path.join(dir, 'none.json')), undefined);
    writeFileSync(path.join(dir, 'bad.json'), '{"half":');
    const r = readJsonIfExists(path.join(dir, 'bad.json'));
    assert.ok(r && 'corrupt' in r);
  });

  it('8 processes appending 200 records each under the lock: every record whole, header once', async () => {
    const file = path.join(dir, 'rows.csv');
    const lock = path.join(dir, 'rows.lock');
    const script = (n: number) => `
      const { appendDurably, fileSize } = require(${JSON.stringify(path.join(OUT, 'durable-file.js'))});
      const { withFileLock } = require(${JSON.stringify(path.join(OUT, 'file-lock.js'))});
      for (let i = 0; i < 200; i++) {
        withFileLock(${JSON.stringify(lock)}, () => {
          const header = fileSize(${JSON.stringify(file)}) === 0 ? 'writer,seq,pad\\n' : '';
          appendDurably(${JSON.stringify(file)}, header + '${n},' + i + ',' + 'x'.repeat(500) + '\\n');
        });
      }`;
    const results = await Promise.all(Array.from({ length: 8 }, (_, n) => runNode(script(n))));
    assert.ok(results.every((r) => r.code === 0), results.map((r) => r.stderr).join('\n'));
    const lines = readFileSync(file, 'utf8').split('\n').slice(0, -1);
    assert.equal(lines[0], 'writer,seq,pad');
    assert.equal(lines.length, 1 + 8 * 200);
    const seen = new Set(lines.slice(1));
    assert.equal(seen.size, 1600);
    assert.ok(lines.slice(1).every((l) => /^\d,\d+,x{500}$/.test(l)));
    assert.ok(!existsSync(lock), 'the lock is released');
  });

  it('SIGKILL while appending: every line before the last is whole, and trimPartialLastLine removes a cut last one', async () => {
    const file = path.join(dir, 'killed.csv');
    const child = spawn(process.execPath, ['-e', `
      const { appendDurably } = require(${JSON.stringify(path.join(OUT, 'durable-file.js'))});
      for (let i = 0; ; i++) appendDurably(${JSON.stringify(file)}, i + ',' + 'y'.repeat(3000) + '\\n', { durable: false });`]);
    // Kill it mid-stream: once it has written for a while (a loaded machine starts it late).
    for (let waited = 0; fileSize(file) < 100_000 && waited < 20_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const before = readFileSync(file, 'utf8');
    // Linux may stop a killed writer's write(2) at a page boundary: only the last line can be cut.
    assert.ok(before.split('\n').slice(0, -1).every((l) => /^\d+,y{3000}$/.test(l)));
    const stub = trimPartialLastLine(file, 1);
    const text = readFileSync(file, 'utf8');
    assert.ok(text.length > 0 && text.endsWith('\n'), 'no partial last record');
    assert.ok(text.split('\n').slice(0, -1).every((l) => /^\d+,y{3000}$/.test(l)));
    assert.equal(text + (stub ?? ''), before);
    if (stub !== undefined) assert.equal(readFileSync(`${file}.partial-1`, 'utf8'), stub);
  });

  it('trimPartialLastLine: cuts a line without a line end (kept aside), leaves whole files alone', () => {
    const f = path.join(dir, 'rows.csv');
    assert.equal(trimPartialLastLine(f), undefined, 'missing file');
    writeFileSync(f, '');
    assert.equal(trimPartialLastLine(f), undefined, 'empty file');
    writeFileSync(f, 'a,1\nb,2\n');
    assert.equal(trimPartialLastLine(f), undefined);
    assert.equal(readFileSync(f, 'utf8'), 'a,1\nb,2\n');
    writeFileSync(f, `a,1\nb,2\nc,${'z'.repeat(200_000)}`);
    assert.equal(trimPartialLastLine(f, 7), `c,${'z'.repeat(200_000)}`, 'a stub longer than one read step');
    assert.equal(readFileSync(f, 'utf8'), 'a,1\nb,2\n');
    assert.equal(readFileSync(`${f}.partial-7`, 'utf8').length, 200_002);
    writeFileSync(f, 'no line end at all');
    assert.equal(trimPartialLastLine(f, 8), 'no line end at all');
    assert.equal(fileSize(f), 0);
  });

  it('appendDurably creates missing folders', () => {
    const f = path.join(dir, 'a', 'b', 'c.txt');
    appendDurably(f, 'one\n');
    appendDurably(f, 'two\n');
    assert.equal(readFileSync(f, 'utf8'), 'one\ntwo\n');
  });

  describe('file lock', () => {
    it('times out, naming the lock, when a live process holds it', () => {
      const lock = path.join(dir, 'held.lock');
      withFileLock(lock, () => {
        assert.throws(() => withFileLock(lock, () => 1, { timeoutMs: 100 }), (e: unknown) => e instanceof LockTimeoutError && e.message.includes(lock));
      });
    });
    it('takes over a lock whose owner died', async () => {
      const lock = path.join(dir, 'dead.lock');
      // A pid that no longer runs: a finished child's.
      const child = spawn(process.execPath, ['-e', '0']);
      await new Promise((res) => child.on('close', res));
      writeFileSync(lock, `${child.pid}\n`);
      assert.equal(withFileLock(lock, () => 'got it', { timeoutMs: 2000 }), 'got it');
      assert.ok(!existsSync(lock));
    });
    it('takes over a lock older than staleMs even if its pid runs (pid reuse)', () => {
      const lock = path.join(dir, 'old.lock');
      writeFileSync(lock, `${process.pid}\n`);
      const past = new Date(Date.now() - 120_000);
      utimesSync(lock, past, past);
      assert.equal(withFileLock(lock, () => 7, { timeoutMs: 2000, staleMs: 60_000 }), 7);
    });
    it('releases the lock when the critical section throws', () => {
      const lock = path.join(dir, 'throw.lock');
      assert.throws(() => withFileLock(lock, () => {
        throw new Error('boom');
      }), /boom/);
      assert.ok(!existsSync(lock));
    });
  });
});
