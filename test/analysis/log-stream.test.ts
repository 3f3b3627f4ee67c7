import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { Readable } from 'node:stream';
import { createLineSplitter, readLines, readText } from '../../src/analysis/log-stream';
import { AuthLogAnalyzer } from '../../src/analysis/authlog';
import { createLogClock } from '../../src/analysis/log-clock';
import { DEFAULT_BRUTE_FORCE_OPTIONS } from '../../src/analysis/bruteforce';
import { corpusBytes, corpusPath } from './corpus';

async function collect(input: Readable, maxLineChars?: number): Promise<{ lines: string[]; result: Awaited<ReturnType<typeof readLines>> }> {
  const lines: string[] = [];
  const result = await readLines(input, (l) => lines.push(l), maxLineChars);
  return { lines, result };
}

function chunked(bytes: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return Readable.from(parts);
}

describe('analysis/log-stream', () => {
  const ssh = corpusBytes('sshd', 'loghub_SSH_2k.log');
  const expected = ssh.toString('utf8').split('\n');

  it('reads a plain file line by line, including the last line without a line break', async () => {
    const { lines, result } = await collect(fs.createReadStream(corpusPath('sshd', 'loghub_SSH_2k.log'), { highWaterMark: 1 << 20 }));
    assert.ok(result.ok);
    assert.deepEqual(result.value, { bytes: ssh.length, gzip: false, lines: 2000, oversizedLines: 0 });
    assert.deepEqual(lines, expected);
  });

  it('strips CRLF line ends (loghub_OpenSSH_2k.log gives the same lines)', async () => {
    const { lines, result } = await collect(fs.createReadStream(corpusPath('sshd', 'loghub_OpenSSH_2k.log')));
    assert.ok(result.ok);
    assert.deepEqual(lines, expected);
  });

  it('recognises gzip by its magic bytes, whatever the chunking (stdin delivers 1-byte chunks too)', async () => {
    const gz = zlib.gzipSync(ssh);
    for (const size of [1, 7, 65536, gz.length]) {
      const { lines, result } = await collect(chunked(gz, size));
      assert.ok(result.ok);
      assert.equal(result.value.gzip, true);
      assert.equal(result.value.bytes, gz.length);
      assert.deepEqual(lines, expected, `chunk size ${size}`);
    }
  });

  it('reads concatenated gzip members (cat a.gz b.gz) as one stream', async () => {
    const half = expected.slice(0, 1000).join('\n') + '\n';
    const rest = expected.slice(1000).join('\n');
    const { lines, result } = await collect(Readable.from([Buffer.concat([zlib.gzipSync(half), zlib.gzipSync(rest)])]));
    assert.ok(result.ok);
    assert.deepEqual(lines, expected);
  });

  it('decodes UTF-8 characters split across chunks', async () => {
    const article = corpusBytes('iocs', 'ioc-finder_long-article-1_threatconnect_guccifer2.txt');
    const text = article.toString('utf8');
    assert.ok(/[\u2018-\u201d]/.test(text)); // curly quotes: multi-byte
    const { lines, result } = await collect(chunked(article, 3));
    assert.ok(result.ok);
    assert.equal(lines.join('\n'), text.replace(/\r\n/g, '\n').replace(/\n$/, ''));
  });

  it('reports a truncated gzip file as gzip_error', async () => {
    const gz = zlib.gzipSync(ssh);
    const r = await readLines(Readable.from([gz.subarray(0, gz.length - 100)]), () => undefined);
    assert.ok(!r.ok);
    assert.equal(r.error.kind, 'gzip_error');
    assert.match(r.error.message, /gzip-compressed but cannot be decompressed/);
  });

  it('reports a corrupt gzip body as gzip_error', async () => {
    const gz = Buffer.from(zlib.gzipSync(ssh));
    gz.fill(0xff, 20, 60);
    const r = await readLines(Readable.from([gz]), () => undefined);
    assert.ok(!r.ok);
    assert.equal(r.error.kind, 'gzip_error');
  });

  it('reports a failing input as read_error', async () => {
    const r = await readLines(fs.createReadStream(corpusPath('sshd', 'no-such-file.log')), () => undefined);
    assert.ok(!r.ok);
    assert.equal(r.error.kind, 'read_error');
    assert.match(r.error.message, /ENOENT/);
  });

  it('stops and reports handler_error when the line callback throws', async () => {
    let calls = 0;
    const input = fs.createReadStream(corpusPath('sshd', 'loghub_SSH_2k.log'), { highWaterMark: 4096 });
    const r = await readLines(input, () => {
      calls += 1;
      if (calls === 10) throw new Error('disk full');
    });
    assert.ok(!r.ok);
    assert.equal(r.error.kind, 'handler_error');
    assert.match(r.error.message, /disk full/);
    assert.equal(calls, 10);
    assert.equal(input.destroyed, true);
  });

  it('drops lines longer than the limit instead of buffering them', async () => {
    const longest = Math.max(...expected.map((l) => l.length));
    const { lines, result } = await collect(chunked(ssh, 50), 120);
    assert.ok(result.ok);
    const kept = expected.filter((l) => l.length <= 120);
    assert.ok(longest > 120);
    assert.deepEqual(lines, kept);
    assert.equal(result.value.oversizedLines, expected.length - kept.length);
  });

  it('handles empty and one-byte inputs', async () => {
    const empty = await collect(Readable.from([Buffer.alloc(0)]));
    assert.ok(empty.result.ok);
    assert.deepEqual([empty.lines, empty.result.value.lines], [[], 0]);
    const one = await collect(Readable.from([Buffer.from('x')]));
    assert.ok(one.result.ok);
    assert.deepEqual(one.lines, ['x']);
  });

  it('hands decoded text to readText callers in pieces', async () => {
    let text = '';
    const r = await readText(Readable.from([zlib.gzipSync(ssh)]), (t) => (text += t));
    assert.ok(r.ok);
    assert.equal(text, ssh.toString('utf8'));
  });

  it('splits lines from arbitrary pieces', () => {
    const out: string[] = [];
    const s = createLineSplitter((l) => out.push(l));
    for (const piece of ['a\r', '\nbb', '', '\n\nccc']) s.push(piece);
    s.end();
    assert.deepEqual(out, ['a', 'bb', '', 'ccc']);
    assert.equal(s.lines, 4);
  });

  it('gives the same auth.log summary for the gzip-compressed corpus file', async () => {
    const clock = createLogClock({ year: 2017 });
    assert.ok(clock.ok);
    const plain = new AuthLogAnalyzer(clock.value, DEFAULT_BRUTE_FORCE_OPTIONS);
    const packed = new AuthLogAnalyzer(clock.value, DEFAULT_BRUTE_FORCE_OPTIONS);
    assert.ok((await readLines(fs.createReadStream(corpusPath('sshd', 'loghub_SSH_2k.log')), (l) => plain.feedLine(l))).ok);
    assert.ok((await readLines(Readable.from([zlib.gzipSync(ssh)]), (l) => packed.feedLine(l))).ok);
    const s = packed.summarize();
    assert.deepEqual(s, plain.summarize());
    assert.equal(s.failures.totalFailures, 528);
  });
});
