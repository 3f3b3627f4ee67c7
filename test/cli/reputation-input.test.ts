import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { classifyArgument, collectStream, formatInvalid, lineContent, parseTarget, TargetCollector } from '../../src/cli/reputation-input';
import { capturedObjects, corpusJson } from './reputation-fixtures';

function target(text: string): { type: string; value: string } {
  const r = parseTarget(text);
  assert.ok(r.ok, `${text}: ${r.ok ? '' : r.error.message}`);
  return r.value;
}

function invalid(text: string): string {
  const r = parseTarget(text);
  assert.ok(!r.ok, `${text} should be invalid, got ${JSON.stringify(r.ok && r.value)}`);
  return r.error.message;
}

describe('reputation input: targets', () => {
  it('reads addresses in the address gate\'s canonical form (IPv4-mapped and NAT64 become IPv4, IPv6 RFC 5952)', () => {
    assert.deepEqual(target('138.128.150.133'), { type: 'ip', value: '138.128.150.133' });
    assert.deepEqual(target('::ffff:138.128.150.133'), { type: 'ip', value: '138.128.150.133' });
    assert.deepEqual(target('64:ff9b::8a80:9685'), { type: 'ip', value: '138.128.150.133' });
    assert.deepEqual(target('2001:0DB8:0000:0000:0000:0000:0000:0001'), { type: 'ip', value: '2001:db8::1' });
    assert.deepEqual(target('  10.0.0.1 '), { type: 'ip', value: '10.0.0.1' });
  });

  it('reads the captured file under each of its hashes, lower-cased, and the captured domain', () => {
    const c = capturedObjects();
    assert.deepEqual(target(c.md5.toUpperCase()), { type: 'md5', value: c.md5 });
    assert.deepEqual(target(c.sha1), { type: 'sha1', value: c.sha1 });
    assert.deepEqual(target(c.sha256), { type: 'sha256', value: c.sha256 });
    assert.deepEqual(target(c.domain.toUpperCase() + '.'), { type: 'domain', value: c.domain });
  });

  it('refangs the usual defanged forms', () => {
    assert.deepEqual(target('138.128.150[.]133'), { type: 'ip', value: '138.128.150.133' });
    assert.deepEqual(target('tawuhoju(.)com'), { type: 'domain', value: 'tawuhoju.com' });
    assert.deepEqual(target('tawuhoju[dot]com'), { type: 'domain', value: 'tawuhoju.com' });
    assert.deepEqual(target('2001:db8[:]:1'), { type: 'ip', value: '2001:db8::1' });
  });

  it('keeps a zone-scoped IPv6 address as an ip target (the lookup skips it, saying why)', () => {
    assert.deepEqual(target('FE80:0::1%eth0'), { type: 'ip', value: 'fe80::1%eth0' });
  });

  it('turns an internationalised domain into its ASCII (IDNA) form', () => {
    assert.deepEqual(target('bücher.example'), { type: 'domain', value: 'xn--bcher-kva.example' });
  });

  it('rejects what is none of them, saying why', () => {
    assert.match(invalid('010.0.0.1'), /not an IP address, domain, or MD5\/SHA1\/SHA256 hash/);
    assert.match(invalid('999.1.1.1'), /not an IP address/);
    assert.match(invalid('localhost'), /not an IP address/);
    assert.match(invalid('a'.repeat(34)), /34 hex digits; an MD5, SHA1 or SHA256 hash has 32, 40 or 64/);
    assert.match(invalid('hxxp://tawuhoju[.]com/x'), /is a URL; give its host name/);
    assert.match(invalid('https://tawuhoju.com/'), /is a URL/);
    assert.match(invalid('1.2.3.4 5.6.7.8'), /more than one word/);
    assert.match(invalid('-bad-.com'), /not an IP address/);
    assert.match(invalid('x'.repeat(301)), /too long/);
    assert.match(invalid('1.2.3.4%eth0'), /not an IP address/);
  });

  it('lineContent drops blank lines, whole-line and trailing # comments', () => {
    assert.equal(lineContent(''), undefined);
    assert.equal(lineContent('   '), undefined);
    assert.equal(lineContent('# a list'), undefined);
    assert.equal(lineContent('  #1.2.3.4'), undefined);
    assert.equal(lineContent('8.8.8.8   # resolver'), '8.8.8.8');
    assert.equal(lineContent('8.8.8.8\r'), '8.8.8.8');
  });
});

describe('reputation input: collecting', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'soar-rep-input-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('deduplicates in first-seen order across spellings and reports invalid lines with their numbers', () => {
    const c = new TargetCollector();
    c.addLines(['# suspects', '138.128.150.133', '', '::ffff:138.128.150.133', 'TAWUHOJU.COM', 'tawuhoju.com', 'not a target', '138.128.150[.]133', '0x7f.1'].join('\n'), 'suspects.txt');
    assert.deepEqual(c.targets, [
      { type: 'ip', value: '138.128.150.133' },
      { type: 'domain', value: 'tawuhoju.com' },
    ]);
    assert.equal(c.duplicates, 3);
    assert.deepEqual(c.invalid.map((i) => [i.line, i.text]), [[7, 'not a target'], [9, '0x7f.1']]);
    assert.equal(formatInvalid(c.invalid[0]!), 'suspects.txt:7: "not a target" holds more than one word; give one IP address, domain or hash per line');
    assert.match(formatInvalid({ source: 'argument', line: 3, text: 'x', message: 'm' }), /^argument 3: m$/);
  });

  it('streams a CRLF file line by line: the 42 real AbuseIPDB /check addresses, each once, numbered as in the file', async () => {
    const recorded = Object.keys(corpusJson('abuseipdb', 'realworld_check_responses_ioc_cache.json') as Record<string, unknown>);
    assert.equal(recorded.length, 42);
    const file = path.join(dir, 'ips.txt');
    // Every address twice (the second IPv4-mapped), a comment and a bad line at the end.
    const lines = ['# from the IOC cache', ...recorded, ...recorded.map((ip) => `::ffff:${ip}`), 'bogus_host'];
    writeFileSync(file, lines.join('\r\n') + '\r\n');
    const c = new TargetCollector();
    await collectStream(createReadStream(file), file, c);
    assert.deepEqual(c.targets.map((t) => t.value), recorded);
    assert.equal(c.duplicates, 42);
    assert.deepEqual(c.invalid.map((i) => `${i.source}:${i.line}`), [`${file}:${lines.length}`]);
  });

  it('reads stdin the same way', async () => {
    const c = new TargetCollector();
    await collectStream(Readable.from(['1.1.1.1\n8.8.8', '.8\n1.1.1.1\n']), '<stdin>', c);
    assert.deepEqual(c.targets.map((t) => t.value), ['1.1.1.1', '8.8.8.8']);
    assert.equal(c.duplicates, 1);
  });
});

describe('reputation input: arguments', () => {
  const files = new Set(['ips.txt', 'tawuhoju.com']);
  const isFile = (p: string): boolean => files.has(p);

  it('addresses and hashes are targets even when a file has that name; other existing files are read', () => {
    assert.deepEqual(classifyArgument('-', isFile), { kind: 'stdin' });
    assert.deepEqual(classifyArgument('8.8.8.8', () => true), { kind: 'target' });
    assert.deepEqual(classifyArgument(capturedObjects().md5, () => true), { kind: 'target' });
    assert.deepEqual(classifyArgument('ips.txt', isFile), { kind: 'file', path: 'ips.txt' });
    assert.deepEqual(classifyArgument('tawuhoju.com', isFile), { kind: 'file', path: 'tawuhoju.com' });
    assert.deepEqual(classifyArgument('evil.example.net', isFile), { kind: 'target' });
  });

  it('a list name or a path that names nothing is a missing file, not a domain to send out', () => {
    assert.deepEqual(classifyArgument('suspects.txt', isFile), { kind: 'missing_file', message: 'suspects.txt: no such file' });
    assert.deepEqual(classifyArgument('./lists/today', isFile), { kind: 'missing_file', message: './lists/today: no such file' });
    assert.deepEqual(classifyArgument('nonsense!', isFile), { kind: 'target' });
  });
});
