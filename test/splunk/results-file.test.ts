import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { parse as parseCsvSync } from 'csv-parse/sync';
import fc from 'fast-check';
import { DEFAULT_RESULTS_LIMITS, decodeMultivalue, MalformedRecord, readResultsFile, ResultRow, resultsLayout, rowFields } from '../../src/splunk/results-file';
import { encodeMultivalue, resultsCsv } from '../support/splunkd-emulator';

const dir = mkdtempSync(path.join(tmpdir(), 'soar-results-'));
function file(name: string, content: string | Buffer): string {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
}
async function readAll(p: string, options: Parameters<typeof readResultsFile>[3] = {}) {
  const rows: ResultRow[] = [];
  const malformed: MalformedRecord[] = [];
  const r = await readResultsFile(p, resultsLayout(p, undefined), (row) => {
    rows.push(row);
  }, { onMalformed: (m) => malformed.push(m), ...options });
  return { r, rows, malformed };
}

describe('splunk/results-file', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('__mv_ decoding (Splunk_SA_CIM encoding)', () => {
    it('decodes $v1$;$v2$ with $$ as a literal dollar', () => {
      assert.deepEqual(decodeMultivalue('$root$;$ad$$min$;$$$$$$'), ['root', 'ad$min', '$$']);
      assert.deepEqual(decodeMultivalue('$one$'), ['one']);
      assert.deepEqual(decodeMultivalue('$$;$x;y$'), ['', 'x;y']);
    });
    it('round-trips what the emulator encodes, for awkward values', () => {
      const values = ['a', '', '$', '$$', ';', '$;$', 'a b,c"d'];
      assert.deepEqual(decodeMultivalue(encodeMultivalue(values)), values);
    });
    it('returns undefined for cells not in that encoding', () => {
      for (const bad of ['root', '$open', '$a$b$', '$a$,$b$']) assert.equal(decodeMultivalue(bad), undefined, bad);
    });
    it('prefers a decodable __mv_ column over the plain one and drops __mv_ columns', () => {
      assert.deepEqual({ ...rowFields(['users', 'n', '__mv_users', '__mv_n'], ['root\nadmin', '3', '$root$;$admin$', '']) }, { users: ['root', 'admin'], n: '3' });
      assert.deepEqual({ ...rowFields(['u', '__mv_u'], ['plain', 'not-mv']) }, { u: 'plain' });
    });
  });

  describe('layout and rid', () => {
    it('per_result_alert/tmp_N gives rid N; result_id wins; anything else is a digest', () => {
      assert.deepEqual(resultsLayout('/d/sid/per_result_alert/tmp_12.csv.gz', undefined), { mode: 'per_result', baseRid: '12' });
      assert.deepEqual(resultsLayout('/d/sid/per_result_alert/tmp_12.csv.gz', '40'), { mode: 'per_result', baseRid: '40' });
      assert.deepEqual(resultsLayout('/d/sid/results.csv.gz', undefined), { mode: 'digest', baseRid: undefined });
      assert.deepEqual(resultsLayout('/d/sid/sendalert_temp_results.csv.gz', undefined), { mode: 'digest', baseRid: undefined });
    });
  });

  describe('reading', () => {
    it('streams every row of a gzip CSV with quoted commas, newlines and a BOM', async () => {
      const csv = '\uFEFF' + resultsCsv([{ src_ip: '203.0.113.1', reason: 'bad, "really"\nbad' }, { src_ip: '203.0.113.2', users: ['a', 'b'] }]);
      const { r, rows } = await readAll(file('ok.csv.gz', gzipSync(csv)));
      assert.ok(r.ok);
      assert.deepEqual(rows.map((x) => [x.rid, x.fields.src_ip]), [['0', '203.0.113.1'], ['1', '203.0.113.2']]);
      assert.equal(rows[0]!.fields.reason, 'bad, "really"\nbad');
      assert.deepEqual(rows[1]!.fields.users, ['a', 'b']);
      assert.ok('_time' in rows[0]!.fields);
    });
    it('reads a plain CSV when the name has no .gz', async () => {
      const { r, rows } = await readAll(file('plain.csv', 'src_ip\n198.51.100.1\n'));
      assert.ok(r.ok);
      assert.equal(rows.length, 1);
    });
    const failures: [string, string | Buffer | undefined, string][] = [
      ['missing.csv.gz', undefined, 'missing'],
      ['empty.csv.gz', Buffer.alloc(0), 'empty'],
      ['notgz.csv.gz', 'src_ip\n1.2.3.4\n', 'not_gzip'],
      ['header.csv.gz', gzipSync('src_ip,user\n'), 'no_rows'],
      ['nothing.csv.gz', gzipSync(''), 'empty'],
      ['badheader.csv.gz', gzipSync('src_ip,"user\n1.2.3.4,root\n'), 'csv'],
    ];
    for (const [name, content, kind] of failures) {
      it(`reports ${kind} for ${name}`, async () => {
        const p = content === undefined ? path.join(dir, name) : file(name, content);
        const { r } = await readAll(p);
        assert.equal(r.ok, false);
        if (!r.ok) {
          assert.equal(r.error.kind, kind);
          assert.ok(r.error.message.includes(p));
        }
      });
    }
    it('delivers the complete rows before a truncation and never a half row', async () => {
      const rows = Array.from({ length: 5000 }, (_, i) => ({ src_ip: `192.0.2.${i % 250}`, n: String(i).padStart(8, '0') }));
      const gz = gzipSync(resultsCsv(rows), { level: 0 });
      const { r, rows: got } = await readAll(file('cut.csv.gz', gz.subarray(0, Math.floor(gz.length * 0.6))));
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.kind, 'truncated');
      assert.ok(got.length > 1000 && got.length < 5000);
      got.forEach((row, i) => assert.equal(row.fields.n, String(i).padStart(8, '0')));
    });
    it('applies backpressure: the next row waits for the previous hand-off', async () => {
      const p = file('bp.csv.gz', gzipSync(resultsCsv(Array.from({ length: 50 }, (_, i) => ({ src_ip: `192.0.2.${i}` })))));
      let active = 0;
      let maxActive = 0;
      const r = await readResultsFile(p, resultsLayout(p, undefined), async () => {
        active += 1;
        maxActive = Math.max(maxActive, active);
        await new Promise((res) => setImmediate(res));
        active -= 1;
      });
      assert.ok(r.ok);
      assert.equal(maxActive, 1);
    });
  });

  describe('only a regular file, within the caps', () => {
    const refusals: [string, () => string, string][] = [
      ['a FIFO', () => {
        const p = path.join(dir, 'fifo.csv.gz');
        execFileSync('mkfifo', [p]);
        return p;
      }, 'not_regular'],
      ['a directory named like a results file', () => {
        const p = path.join(dir, 'adir.csv.gz');
        mkdirSync(p);
        return p;
      }, 'not_regular'],
      ['a symlink to /dev/zero named .csv.gz', () => {
        const p = path.join(dir, 'zero.csv.gz');
        symlinkSync('/dev/zero', p);
        return p;
      }, 'symlink'],
      ['/dev/zero itself', () => '/dev/zero', 'not_regular'],
    ];
    for (const [what, make, kind] of refusals) {
      it(`refuses ${what} at once (${kind})`, async () => {
        const p = make();
        const t0 = Date.now();
        const { r, rows } = await readAll(p);
        assert.ok(Date.now() - t0 < 1000, 'refused without waiting');
        assert.equal(rows.length, 0);
        assert.equal(r.ok, false);
        if (!r.ok) {
          assert.equal(r.error.kind, kind);
          assert.ok(r.error.message.includes(p));
        }
      });
    }
    it('refuses a socket (not_regular)', async () => {
      const p = path.join(dir, 'sock.csv.gz');
      const server: Server = createServer();
      await new Promise<void>((res) => server.listen(p, res));
      try {
        const { r } = await readAll(p);
        assert.equal(r.ok, false);
        if (!r.ok) assert.equal(r.error.kind, 'not_regular');
      } finally {
        await new Promise((res) => server.close(res));
      }
    });
    it('refuses a file over the compressed cap before reading it', async () => {
      const p = file('big.csv.gz', gzipSync(resultsCsv([{ src_ip: '192.0.2.1' }])));
      let calls = 0;
      const r = await readResultsFile(p, resultsLayout(p, undefined), () => void (calls += 1), { limits: { ...DEFAULT_RESULTS_LIMITS, maxCompressedBytes: 10 } });
      assert.equal(calls, 0);
      assert.ok(!r.ok && r.error.kind === 'too_large');
    });
    for (const size of [100_000, 1_000_000]) {
      it(`stops a gzip that expands past the uncompressed cap (${size} bytes compressed path), rows before it handled`, async () => {
        const rows = Array.from({ length: 50 }, (_, i) => ({ src_ip: `192.0.2.${i}` }));
        const body = Buffer.concat([Buffer.from(resultsCsv(rows)), Buffer.alloc(size, 0x41)]);
        const p = file(`bomb-${size}.csv.gz`, gzipSync(body));
        const { r, rows: got } = await readAll(p, { limits: { ...DEFAULT_RESULTS_LIMITS, maxUncompressedBytes: 50_000, maxRecordBytes: 10_000 } });
        assert.ok(!r.ok && r.error.kind === 'too_large_uncompressed', JSON.stringify(r));
        assert.equal(got.length, 50);
      });
    }
  });

  describe('a malformed record is skipped, the rest is read', () => {
    it('a broken quote in the middle: one record skipped with its position, rids after it unchanged', async () => {
      const text = 'src_ip,user\n192.0.2.1,a\n192.0.2.2,b\n192.0.2.3,"c"d\n192.0.2.4,e\n192.0.2.5,f\n';
      const { r, rows, malformed } = await readAll(file('quote.csv', text));
      assert.ok(r.ok);
      assert.deepEqual(rows.map((x) => [x.rid, x.fields.src_ip]), [['0', '192.0.2.1'], ['1', '192.0.2.2'], ['3', '192.0.2.4'], ['4', '192.0.2.5']]);
      assert.equal(malformed.length, 1);
      assert.deepEqual([malformed[0]!.index, malformed[0]!.rid, malformed[0]!.line, malformed[0]!.reason], [2, '2', 4, 'csv']);
      if (r.ok) assert.deepEqual([r.value.rows, r.value.malformed, r.value.indexes], [4, 1, 5]);
    });
    it('a record over the per-record cap (streamed, across many chunks) is skipped without keeping it', async () => {
      const rows = Array.from({ length: 3000 }, (_, i) => `192.0.2.${i % 250},u${i}`);
      const huge = `198.51.100.7,"${'x'.repeat(600_000)}\n${'y'.repeat(600_000)}"`;
      const text = ['src_ip,user', ...rows.slice(0, 1500), huge, ...rows.slice(1500)].join('\n') + '\n';
      const { r, rows: got, malformed } = await readAll(file('huge.csv.gz', gzipSync(text)), { limits: { ...DEFAULT_RESULTS_LIMITS, maxRecordBytes: 100_000 } });
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(got.length, 3000);
      assert.equal(got[1500]!.rid, '1501');
      assert.equal(got[1500]!.fields.user, 'u1500');
      assert.equal(malformed.length, 1);
      assert.deepEqual([malformed[0]!.index, malformed[0]!.line, malformed[0]!.reason], [1500, 1502, 'too_large']);
      assert.ok(malformed[0]!.bytes > 1_200_000);
    });
    it('a row with a blank line is not a row; an unclosed quote at the end is one malformed record', async () => {
      const { r, rows, malformed } = await readAll(file('tail.csv', 'src_ip,user\n192.0.2.1,a\n\n192.0.2.2,"b\n'));
      assert.ok(r.ok);
      assert.deepEqual(rows.map((x) => x.rid), ['0']);
      assert.deepEqual(malformed.map((m) => [m.index, m.reason]), [[1, 'csv']]);
    });
  });

  it('a run of 20,000,000 quote characters is one record; the row after it is read too, within seconds', async function () {
    this.timeout(30_000);
    const t0 = Date.now();
    const { r, rows } = await readAll(file('quotes.csv.gz', gzipSync(`src_ip,user\n192.0.2.1,a\n${'"'.repeat(20_000_000)}\n192.0.2.2,b\n`)));
    assert.ok(r.ok);
    assert.equal(rows[rows.length - 1]!.fields.src_ip, '192.0.2.2');
    assert.ok(Date.now() - t0 < 10_000, `${Date.now() - t0} ms`);
  });

  describe('resume and stop', () => {
    const p = () => file('resume.csv.gz', gzipSync(resultsCsv(Array.from({ length: 1000 }, (_, i) => ({ src_ip: `192.0.2.${i % 250}`, n: String(i) })))));
    it('fromIndex: rows before it are not delivered, rids stay those of the file', async () => {
      const { r, rows } = await readAll(p(), { fromIndex: 990 });
      assert.ok(r.ok);
      assert.deepEqual(rows.map((x) => x.rid), ['990', '991', '992', '993', '994', '995', '996', '997', '998', '999']);
      assert.equal(rows[0]!.fields.n, '990');
    });
    it("'stop': no row after it is delivered, and the rest is counted", async () => {
      const f = p();
      const got: string[] = [];
      const r = await readResultsFile(f, resultsLayout(f, undefined), (row) => {
        if (row.index === 700) return 'stop';
        got.push(row.rid);
      });
      assert.ok(r.ok);
      if (r.ok) assert.deepEqual([r.value.rows, r.value.stoppedAt, r.value.indexes], [700, 700, 1000]);
      assert.equal(got.length, 700);
    });
  });

  it('reads what csv-parse reads, for awkward values across stream chunks', async function () {
    this.timeout(60_000);
    const cell = fc.string({ unit: fc.constantFrom('a', ' ', ',', '"', '\n', '\r\n', '$', ';', 'é', '\t'), maxLength: 12 });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ src_ip: cell, note: cell, users: fc.array(cell, { maxLength: 3 }) }), { minLength: 1, maxLength: 40 }), async (rows) => {
        // Repeated so the file is streamed (over 256 KiB) with records cut at chunk edges.
        const all = Array.from({ length: 4000 }, (_, i) => rows[i % rows.length]!);
        const text = resultsCsv(all);
        const expected = (parseCsvSync(text, { relax_column_count: true }) as string[][]).filter((rec) => !(rec.length === 1 && rec[0] === ''));
        const { r, rows: got, malformed } = await readAll(file('prop.csv', text));
        assert.ok(r.ok);
        assert.equal(malformed.length, 0);
        assert.equal(got.length, expected.length - 1);
        got.forEach((row, i) => assert.deepEqual(row.fields, rowFields(expected[0]!, expected[i + 1]!)));
      }),
      { numRuns: 15 },
    );
  });
});
