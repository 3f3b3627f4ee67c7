import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { decodeMultivalue, readResultsFile, ResultRow, resultsLayout, rowFields } from '../../src/splunk/results-file';
import { encodeMultivalue, resultsCsv } from '../support/splunkd-emulator';

const dir = mkdtempSync(path.join(tmpdir(), 'soar-results-'));
function file(name: string, content: string | Buffer): string {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
}
async function readAll(p: string) {
  const rows: ResultRow[] = [];
  const r = await readResultsFile(p, resultsLayout(p, undefined), (row) => {
    rows.push(row);
  });
  return { r, rows };
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
      ['badcsv.csv.gz', gzipSync('src_ip,user\n"1.2.3.4,"root\n'), 'csv'],
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
});
