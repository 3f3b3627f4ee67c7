/**
 * The pure pieces of `soar-edr iocs`: the --type filter, the rows, --defang, and the three
 * renderings, on the real reports in test/fixtures/corpus/iocs through the real extractor.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import { extractIocs, IOC_TYPES, refang } from '../../src/analysis/iocs';
import { enrichTargets, IOC_LABEL, iocRows, parseTypeFilter, renderIocs } from '../../src/cli/iocs-command';
import { corpusPath } from '../support/paths';

const TRICKBOT = readFileSync(corpusPath('iocs', 'unit42_2020-08-24-IOCs-for-Trickbot-gtag-ono66.txt'), 'utf8');
const IOCEXTRACT = readFileSync(corpusPath('iocs', 'iocextract_test_data_input.txt'), 'utf8');
const INPUTS = [{ name: 'report.txt', bytes: 0, gzip: false, records: 0, error: null }];

describe('cli/iocs: --type', () => {
  it('accepts singular and plural names, ip and hash, repeated or comma-separated, in the core order', () => {
    assert.deepEqual(parseTypeFilter(['sha256']), { ok: true, value: ['sha256'] });
    assert.deepEqual(parseTypeFilter(['url,domain', 'ipv4']), { ok: true, value: ['ipv4', 'domains', 'urls'] });
    assert.deepEqual(parseTypeFilter(['domains', 'emails', 'cves']), { ok: true, value: ['domains', 'emails', 'cves'] });
    assert.deepEqual(parseTypeFilter(['ip']), { ok: true, value: ['ipv4', 'ipv6'] });
    assert.deepEqual(parseTypeFilter(['hash,cve']), { ok: true, value: ['md5', 'sha1', 'sha256', 'sha512', 'cves'] });
    assert.deepEqual(parseTypeFilter([' IPv6 ']), { ok: true, value: ['ipv6'] });
  });

  it('refuses unknown names and an empty list, listing the valid ones', () => {
    for (const bad of [['sha384'], [','], ['ipv4,bogus']]) {
      const r = parseTypeFilter(bad);
      assert.ok(!r.ok, bad.join());
      assert.equal(r.error.kind, 'usage');
      assert.match(r.error.message, /^--type: .*expected a comma-separated list of: ipv4, ipv6, domain, url, email, md5, sha1, sha256, sha512, cve \(or ip, hash\)$/);
    }
  });
});

describe('cli/iocs: output of the Unit 42 Trickbot report', () => {
  const set = extractIocs(TRICKBOT);
  const all = iocRows(set, IOC_TYPES, false);

  it('JSON: 101 unique SHA256 and the defanged IPv4s refanged', () => {
    const doc = JSON.parse(renderIocs('json', { inputs: INPUTS, rows: all, types: IOC_TYPES, defanged: false })) as Record<string, any>;
    assert.equal(doc.counts.sha256, 101);
    assert.equal(doc.iocs.sha256.length, 101);
    assert.equal(new Set(doc.iocs.sha256).size, 101);
    const defanged = new Set(Array.from(TRICKBOT.matchAll(/\b\d{1,3}\.\d{1,3}\.\d{1,3}\[\.\]\d{1,3}\b/g), (m) => refang(m[0])));
    assert.equal(defanged.size, 9);
    for (const ip of defanged) assert.ok(doc.iocs.ipv4.includes(ip), ip);
    assert.equal(doc.total, all.length);
    assert.deepEqual(Object.keys(doc.iocs), Object.values(IOC_LABEL));
  });

  it('--defang: hosts and URLs defanged in every format, hashes unchanged', () => {
    const rows = iocRows(set, IOC_TYPES, true);
    const doc = JSON.parse(renderIocs('json', { inputs: INPUTS, rows, types: IOC_TYPES, defanged: true })) as Record<string, any>;
    assert.equal(doc.defanged, true);
    assert.ok(doc.iocs.ipv4.every((ip: string) => /^\d+\[\.\]\d+\[\.\]\d+\[\.\]\d+$/.test(ip)));
    assert.ok(doc.iocs.url.every((u: string) => /^hxxps?:\/\//.test(u) && !/^[^/]*\/\/[^/]*[^[]\.[^\]]/.test(u)));
    assert.deepEqual(doc.iocs.sha256, set.sha256);
    assert.deepEqual(doc.iocs.ipv4.map(refang), set.ipv4);
    const csv = parseCsv(renderIocs('csv', { inputs: INPUTS, rows, types: IOC_TYPES, defanged: true }), { columns: true }) as Record<string, string>[];
    assert.ok(csv.filter((r) => r.type === 'domain').every((r) => r.value!.includes('[.]')));
    assert.ok(!renderIocs('table', { inputs: INPUTS, rows, types: IOC_TYPES, defanged: true }).includes('http://'));
  });

  it('CSV: one type,value row per indicator; table: counts line and whole values', () => {
    const csv = parseCsv(renderIocs('csv', { inputs: INPUTS, rows: all, types: IOC_TYPES, defanged: false }), { columns: true }) as Record<string, string>[];
    assert.equal(csv.length, all.length);
    assert.equal(csv.filter((r) => r.type === 'sha256').length, 101);
    const table = renderIocs('table', { inputs: INPUTS, rows: all, types: IOC_TYPES, defanged: false });
    assert.match(table, /^\d+ indicators: 10 ipv4, .*101 sha256\n/);
    for (const h of set.sha256) assert.ok(table.includes(`sha256  ${h}\n`), h);
  });

  it('only the kinds asked for', () => {
    const rows = iocRows(set, ['sha256'], false);
    assert.equal(rows.length, 101);
    const doc = JSON.parse(renderIocs('json', { inputs: INPUTS, rows, types: ['sha256'], defanged: false })) as Record<string, any>;
    assert.deepEqual(Object.keys(doc.iocs), ['sha256']);
    assert.equal(renderIocs('table', { inputs: INPUTS, rows: [], types: ['cves'], defanged: false }), 'no indicators found\n');
  });
});

describe('cli/iocs: long values and --enrich targets (iocextract test input)', () => {
  const set = extractIocs(IOCEXTRACT);
  const rows = iocRows(set, IOC_TYPES, false);

  it('never cuts a SHA512 or a long URL in the table', () => {
    const table = renderIocs('table', { inputs: INPUTS, rows, types: IOC_TYPES, defanged: false });
    assert.equal(set.sha512.length, 1);
    assert.ok(table.includes(set.sha512[0]!));
    for (const u of set.urls) assert.ok(table.includes(u), u);
    assert.ok(!table.includes('\u2026'));
  });

  it('sends IPs, domains, MD5, SHA1 and SHA256 to reputation, not URLs, SHA512 or CVEs', () => {
    const targets = enrichTargets(rows);
    assert.deepEqual(targets, [...set.ipv4, ...set.ipv6, ...set.domains, ...set.md5, ...set.sha1, ...set.sha256]);
    assert.ok(!targets.includes(set.sha512[0]!));
    // Defanged output still looks up the refanged indicator.
    assert.deepEqual(enrichTargets(iocRows(set, IOC_TYPES, true)), targets);
  });
});
