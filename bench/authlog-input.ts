/**
 * A large auth.log for the authlog benchmark, built deterministically from the real sshd logs
 * in test/fixtures/corpus/sshd and cached in tmp/bench-inputs/ (input-cache.ts) by size and seed.
 *
 * The file is a sequence of rounds. Each round holds, in this order:
 *  - the 2,000 lines of loghub_SSH_2k.log (LF),
 *  - the same 2,000 lines as loghub_OpenSSH_2k.log has them (CRLF),
 *  - the 2,000 lines of loghub_Linux_2k.log (old RHEL "sshd(pam_unix)" tag among ftpd, su,
 *    kernel ... lines: realistic noise that must be read and dropped),
 *  - a few lines of the sshd messages the loghub sample lacks (OpenSSH 7-9 formats, IPv6,
 *    empty and spaced user names, an RFC 3339 timestamp), so every variant the issue lists
 *    is exercised.
 * Every line gets a fresh monotonic timestamp (one second per two lines; day numbers 1-9
 * are space-padded as syslog writes them), every IPv4 address is varied by round (third
 * octet XOR a per-round value from 0-255, so a source keeps its identity inside a round
 * and the file holds a bounded but large set of sources), and "invalid user" names get a
 * per-round suffix in most rounds (a dictionary attack's spread of names).
 */
import { createWriteStream, existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { cachedInputPath } from './input-cache';
import { prng } from './prng';

const GENERATOR_VERSION = 1;

import { CORPUS as corpusRoot } from '../test/support/paths';

export { corpusRoot };

/** OpenSSH message formats the loghub sample does not hold (as sshd 7.x-9.x write them). */
const MODERN_LINES = [
  'srv sshd[2001]: Failed publickey for git from 198.51.100.4 port 40222 ssh2: RSA SHA256:Zq3mW0kvYV5C8sGqkV3xq0x1',
  'srv sshd[2002]: Failed keyboard-interactive/pam for invalid user oracle from 198.51.100.5 port 5000 ssh2',
  'bastion sshd[811]: Failed password for root from 2001:db8::17 port 52211 ssh2',
  'h sshd[5]: Failed password for invalid user  from 192.0.2.10 port 2222 ssh2',
  'h sshd[5]: Failed password for invalid user john from doe from 192.0.2.11 port 2223 ssh2',
  'h sshd[5]: Invalid user  from 192.0.2.12 port 4444',
  'h sshd[77]: error: maximum authentication attempts exceeded for invalid user admin from 203.0.113.50 port 50122 ssh2 [preauth]',
  'h sshd[78]: Disconnecting authenticating user root 203.0.113.51 port 40000: Too many authentication failures [preauth]',
  'h sshd[79]: Disconnected from invalid user test 203.0.113.52 port 41000 [preauth]',
  'h sshd[80]: Connection closed by authenticating user root 203.0.113.53 port 42000 [preauth]',
  'h sshd[81]: Received disconnect from 203.0.113.54 port 43000:11: Bye Bye [preauth]',
  'h sshd[90]: Accepted publickey for deploy from 198.51.100.20 port 60000 ssh2: ED25519 SHA256:abc',
  'h sshd[91]: Failed password for bob from ::ffff:203.0.113.9 port 1 ssh2',
  'h sshd-session[4242]: Failed password for root from 192.0.2.3 port 22 ssh2',
];
/** One RFC 3339 line per round (rsyslog's high-precision template). */
const ISO_TAIL = ' web1 sshd[100]: Failed password for root from 192.0.2.1 port 22 ssh2';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const START_MS = Date.UTC(2025, 0, 1, 0, 0, 0);

export interface AuthlogInput {
  readonly file: string;
  readonly bytes: number;
  readonly lines: number;
}

function corpusLines(name: string): string[] {
  const text = readFileSync(path.join(corpusRoot, 'sshd', name), 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The message part after the 16-character "Mmm dd hh:mm:ss " header (CR kept). */
function tails(lines: readonly string[], name: string): string[] {
  return lines.map((l, i) => {
    if (l.charCodeAt(3) !== 32 || l.charCodeAt(15) !== 32) throw new Error(`${name} line ${i + 1} has no syslog timestamp`);
    return l.slice(16);
  });
}

const IPV4 = /\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b/g;
const INVALID_USER = /([Ii]nvalid user )(\S+)/;

/** The cached file for `megabytes` MiB and `seed`, generated on first use. */
export async function authlogInput(megabytes: number, seed = 1): Promise<AuthlogInput> {
  const target = Math.round(megabytes * 1024 * 1024);
  const file = cachedInputPath(`authlog-v${GENERATOR_VERSION}-${megabytes}mb-seed${seed}.log`);
  const meta = `${file}.lines`;
  if (existsSync(file) && existsSync(meta) && statSync(file).size >= target) {
    return { file, bytes: statSync(file).size, lines: Number(readFileSync(meta, 'utf8')) };
  }
  const ssh = tails(corpusLines('loghub_SSH_2k.log'), 'loghub_SSH_2k.log');
  const sshCrlf = tails(corpusLines('loghub_OpenSSH_2k.log'), 'loghub_OpenSSH_2k.log');
  const linux = tails(corpusLines('loghub_Linux_2k.log'), 'loghub_Linux_2k.log');
  const rnd = prng(seed);

  const partial = `${file}.partial`;
  const out = createWriteStream(partial, { highWaterMark: 4 << 20 });
  let bytes = 0;
  let lines = 0;
  let stampSecond = -1;
  let stamp = '';
  const header = (): string => {
    const second = Math.floor(lines / 2);
    if (second !== stampSecond) {
      stampSecond = second;
      const d = new Date(START_MS + second * 1000);
      const day = d.getUTCDate();
      stamp = `${MONTHS[d.getUTCMonth()]} ${day < 10 ? ' ' : ''}${day} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} `;
    }
    return stamp;
  };
  let buffer: string[] = [];
  let bufferChars = 0;
  const flush = async (): Promise<void> => {
    const chunk = buffer.join('');
    buffer = [];
    bufferChars = 0;
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  };
  const emit = async (line: string): Promise<void> => {
    buffer.push(line);
    bufferChars += line.length;
    bytes += Buffer.byteLength(line);
    lines += 1;
    if (bufferChars > 1 << 20) await flush();
  };

  for (let round = 0; bytes < target; round++) {
    const octetXor = round === 0 ? 0 : Math.floor(rnd() * 256);
    const userSuffix = round % 8 === 0 ? '' : String(Math.floor(rnd() * 1000));
    const vary = (tail: string): string => {
      let t = octetXor === 0 ? tail : tail.replace(IPV4, (_m, a: string, b: string, c: string, d: string) => `${a}.${b}.${Number(c) ^ octetXor}.${d}`);
      if (userSuffix !== '') t = t.replace(INVALID_USER, (_m, p: string, u: string) => `${p}${u}${userSuffix}`);
      return t;
    };
    for (const set of [ssh, sshCrlf, linux]) {
      for (const tail of set) {
        if (bytes >= target) break;
        await emit(`${header()}${vary(tail)}\n`);
      }
    }
    for (const tail of MODERN_LINES) {
      if (bytes >= target) break;
      await emit(`${header()}${vary(tail)}\n`);
    }
    if (bytes < target) {
      const d = new Date(START_MS + Math.floor(lines / 2) * 1000).toISOString().replace('Z', '123+00:00');
      await emit(`${d}${vary(ISO_TAIL)}\n`);
    }
  }
  await flush();
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  renameSync(partial, file);
  await new Promise<void>((resolve, reject) => {
    const m = createWriteStream(meta);
    m.on('error', reject);
    m.end(String(lines), () => resolve());
  });
  return { file, bytes, lines };
}

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

if (require.main === module) {
  const mb = Number(process.argv[2] ?? process.env.BENCH_AUTHLOG_MB ?? 1024);
  authlogInput(mb).then(
    (r) => console.log(JSON.stringify(r)),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
