/**
 * The analyst commands' shared output helpers: the thousands separator that replaced ICU's,
 * and the piecewise JSON that large reports are written with. Both must give exactly the
 * text of what they replaced.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { groupedCount, jsonPieces, writeOutput } from '../../src/cli/output-format';
import type { CliIO } from '../../src/cli/runtime';
import { CapturedOutput, slowReader } from '../support/writables';

function captureIO(): { io: CliIO; out: CapturedOutput } {
  const out = new CapturedOutput();
  const io = {
    env: {},
    stdin: process.stdin,
    stdout: out as unknown as NodeJS.WriteStream,
    stderr: out as unknown as NodeJS.WriteStream,
    setExitCode: () => undefined,
  } as CliIO;
  return { io, out };
}

describe('cli/output-format: groupedCount', () => {
  it('groups digits by three as en-US does', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [7, '7'],
      [999, '999'],
      [1000, '1,000'],
      [9_670_066, '9,670,066'],
      [100_000, '100,000'],
      [-1234, '-1,234'],
      [Number.MAX_SAFE_INTEGER, '9,007,199,254,740,991'],
    ];
    for (const [n, text] of cases) assert.equal(groupedCount(n), text, String(n));
  });

  it('agrees with toLocaleString("en-US") on every safe integer', () => {
    fc.assert(fc.property(fc.maxSafeInteger(), (n) => groupedCount(n) === n.toLocaleString('en-US')));
  });

  it('leaves what is not a whole number as String() writes it', () => {
    assert.equal(groupedCount(1.5), '1.5');
    assert.equal(groupedCount(NaN), 'NaN');
    assert.equal(groupedCount(1e21), '1e+21');
  });
});

describe('cli/output-format: jsonPieces', () => {
  const joined = (v: unknown, depth?: number): string => [...jsonPieces(v, depth)].join('');

  it('gives the text of JSON.stringify(value, null, 2) for any JSON value, at any depth', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer({ min: 0, max: 4 }), (v, depth) => joined(v, depth) === JSON.stringify(v, null, 2)),
      { numRuns: 500 },
    );
  });

  it('matches JSON.stringify on what JSON leaves out or converts', () => {
    const when = new Date(Date.UTC(2017, 11, 10, 6, 55, 48));
    const cases: unknown[] = [
      {},
      [],
      { a: [], b: {}, c: [[]], d: [{}] },
      { skipped: undefined, fn: () => 1, kept: null },
      [undefined, () => 1, 1],
      { only: undefined },
      { when, list: [when] },
      { text: 'line\nbreak "quoted" \u2028 \ud83d\ude00', n: -0, big: 1e21 },
      { nested: { deeper: { deepest: [1, [2, [3, { four: 4 }]]] } } },
      Object.assign(Object.create(null) as object, { bare: true }),
      'plain',
      42,
      null,
    ];
    for (const v of cases) {
      for (const depth of [0, 1, 2, 5]) assert.equal(joined(v, depth), JSON.stringify(v, null, 2), `${JSON.stringify(v)} at depth ${depth}`);
    }
  });

  it('yields a large array an element at a time instead of one string', () => {
    const doc = { rows: Array.from({ length: 1000 }, (_, i) => ({ i, address: `192.0.2.${i % 256}` })) };
    const pieces = [...jsonPieces(doc)];
    assert.ok(pieces.length > 1000, `${pieces.length} pieces`);
    assert.ok(Math.max(...pieces.map((p) => p.length)) < 100);
    assert.equal(pieces.join(''), JSON.stringify(doc, null, 2));
  });
});

describe('cli/output-format: writeOutput with pieces', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'soar-output-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function* manyPieces(n: number): Generator<string> {
    for (let i = 0; i < n; i++) yield `row ${i} \u00e9\ud83d\ude00\n`;
  }
  const expected = (n: number): string => [...manyPieces(n)].join('');

  it('writes every piece to --out, in order, multi-byte text intact', async () => {
    const out = path.join(dir, 'report.json');
    const { io } = captureIO();
    assert.deepEqual(await writeOutput(io, out, manyPieces(20_000)), { ok: true, value: undefined });
    assert.equal(readFileSync(out, 'utf8'), expected(20_000));
    assert.deepEqual(readdirSync(dir), ['report.json']);
  });

  it('writes pieces to stdout in batches, not one write per piece', async () => {
    const { io, out } = captureIO();
    assert.deepEqual(await writeOutput(io, undefined, manyPieces(20_000)), { ok: true, value: undefined });
    assert.equal(out.chunks.join(''), expected(20_000));
    assert.ok(out.chunks.length < 20, `${out.chunks.length} writes`);
  });

  it('renders no further ahead of a slow stdout than a few batches', async () => {
    let rendered = 0;
    let maxAhead = 0;
    const slow = slowReader(2);
    function* counted(): Generator<string> {
      for (const piece of manyPieces(100_000)) {
        rendered += Buffer.byteLength(piece);
        maxAhead = Math.max(maxAhead, rendered - slow.received);
        yield piece;
      }
    }
    const io = { ...captureIO().io, stdout: slow as unknown as NodeJS.WriteStream };
    assert.deepEqual(await writeOutput(io, undefined, counted()), { ok: true, value: undefined });
    assert.equal(slow.received, Buffer.byteLength(expected(100_000)));
    assert.ok(slow.received > 1_500_000, `${slow.received} bytes: many batches`);
    assert.ok(maxAhead < 512 * 1024, `rendered ${maxAhead} bytes ahead of the reader`);
  });

  it('ends quietly when the stdout reader goes away (EPIPE)', async () => {
    const gone = new Writable({
      write(_c, _e, done) {
        done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const io = { ...captureIO().io, stdout: gone as unknown as NodeJS.WriteStream };
    assert.deepEqual(await writeOutput(io, undefined, manyPieces(20_000)), { ok: true, value: undefined });
  });

  it('keeps the old file and no temporary file when rendering fails part way', async () => {
    const out = path.join(dir, 'report.json');
    writeFileSync(out, 'previous report\n');
    function* failing(): Generator<string> {
      yield* manyPieces(10_000);
      throw new Error('renderer broke');
    }
    const { io } = captureIO();
    const r = await writeOutput(io, out, failing());
    assert.ok(!r.ok);
    assert.equal(r.error.kind, 'output-failed');
    assert.match(r.error.message, /report\.json: renderer broke/);
    assert.equal(readFileSync(out, 'utf8'), 'previous report\n');
    assert.deepEqual(readdirSync(dir), ['report.json']);
  });

  it('creates a missing --out directory, and reports a --out it cannot write as output-failed', async () => {
    const { io } = captureIO();
    const created = path.join(dir, 'new-dir', 'x.json');
    assert.equal((await writeOutput(io, created, manyPieces(3))).ok, true);
    assert.equal(readFileSync(created, 'utf8'), expected(3));
    const blocked = path.join(dir, 'file');
    writeFileSync(blocked, '');
    const failed = await writeOutput(io, path.join(blocked, 'x.json'), 'whole text');
    assert.ok(!failed.ok);
    assert.equal(failed.error.kind, 'output-failed');
    assert.match(failed.error.message, /a part of the path is not a directory/);
  });
});
