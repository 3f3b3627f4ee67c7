/**
 * The shell scripts of the Docker setup: shellcheck-clean POSIX sh, and docker/soar-init.sh
 * run for real (with the built CLI, as the cli image runs it) against the loopback splunkd REST
 * stub: it stores the .env secrets in storage/passwords, skips empty ones, retries while
 * splunkd is not ready, stops on a refused login, and never puts a secret on a command line.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';
import { REPO_ROOT } from './deploy-files';

const SCRIPTS = readdirSync(path.join(REPO_ROOT, 'docker'))
  .filter((f) => f.endsWith('.sh'))
  .map((f) => path.join(REPO_ROOT, 'docker', f));
const SOAR_INIT = path.join(REPO_ROOT, 'docker', 'soar-init.sh');
const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'soar-edr.cjs');
const ADMIN_PASSWORD = 'changeme-Adm1n'; // the stub's admin password

function shellcheck(file: string): { status: number | null; out: string } {
  const sc = spawnSync('shellcheck', ['--shell=sh', '--severity=style', '--format=gcc', file], { encoding: 'utf8' });
  if (sc.error) assert.fail('shellcheck is not installed: apt-get install shellcheck (.ci/run installs it)');
  return { status: sc.status, out: sc.stdout + sc.stderr };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** command lines of the script and every process it started, seen while it ran (from /proc) */
  cmdlines: Set<string>;
}

/**
 * Command lines (argv joined with spaces, as `ps` shows them) of `root` and every process below
 * it; other processes on the machine (other test runs) are none of this test's business.
 */
function commandLinesUnder(root: number): string[] {
  const parent = new Map<number, number>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      // /proc/PID/stat: "pid (comm) state ppid ..."; comm may contain spaces and parentheses
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      parent.set(Number(pid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // the process ended meanwhile
    }
  }
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (!tree.has(pid) && tree.has(ppid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  const out: string[] = [];
  for (const pid of tree) {
    try {
      out.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim());
    } catch {
      // ended
    }
  }
  return out;
}

/** storage/passwords requests the stub has answered (each CLI run logs in first, then asks one) */
const passwordRequests = (stub: RestStub) => stub.requests.filter((q) => q.path.includes('/storage/passwords')).length;

/**
 * Runs soar-init.sh as the soar-init service does (its environment from compose), watching the
 * command lines of its processes; `onPasswordRequest(n)` is called as the stub's count of
 * storage/passwords requests grows (polled, so within a few ms).
 */
function runSoarInit(env: Record<string, string>, onPasswordRequest?: (n: number) => void, stub?: RestStub): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('sh', [SOAR_INIT], {
      env: { PATH: process.env.PATH ?? '', SOAR_EDR_CLI: CLI, SPLUNK_SCHEME: 'http', SPLUNK_HOST: '127.0.0.1', SPLUNK_USERNAME: 'admin', SOAR_INIT_PAUSE: '1', ...env },
    });
    let stdout = '';
    let stderr = '';
    const cmdlines = new Set<string>();
    let seen = 0;
    const watch = setInterval(() => {
      if (child.pid !== undefined) for (const c of commandLinesUnder(child.pid)) cmdlines.add(c);
      if (stub && onPasswordRequest && passwordRequests(stub) !== seen) {
        seen = passwordRequests(stub);
        onPasswordRequest(seen);
      }
    }, 15);
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => {
      clearInterval(watch);
      resolve({ code, stdout, stderr, cmdlines });
    });
  });
}

const SECRETS = {
  SOAR_VIRUSTOTAL_API_KEY: 'vt-test-value-5f1c0a9e',
  SOAR_ABUSEIPDB_API_KEY: 'abuse-test-value-77d2',
  SOAR_DISCORD_WEBHOOK_URL: 'https://discord.com/api/webhooks/123/test-token-value',
};

describe('docker/*.sh', function () {
  this.timeout(60_000);

  describe('shellcheck (POSIX sh)', () => {
    it('finds the scripts and each starts with #!/bin/sh', () => {
      assert.ok(SCRIPTS.includes(SOAR_INIT));
      for (const f of SCRIPTS) assert.equal(readFileSync(f, 'utf8').split('\n')[0], '#!/bin/sh', f);
    });

    for (const file of SCRIPTS) {
      it(`${path.relative(REPO_ROOT, file)} passes shellcheck --shell=sh --severity=style`, () => {
        const r = shellcheck(file);
        assert.equal(r.status, 0, r.out);
      });
    }

    it('the same check fails a script with bashisms and an unquoted expansion', () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'soar-sc-'));
      const bad = path.join(dir, 'bad.sh');
      writeFileSync(bad, '#!/bin/sh\nif [[ $1 == x ]]; then echo $2; fi\n');
      const r = shellcheck(bad);
      rmSync(dir, { recursive: true, force: true });
      assert.notEqual(r.status, 0);
      assert.match(r.out, /SC3010/, '[[ ]] is not POSIX sh');
      assert.match(r.out, /SC2086/, 'unquoted $2');
    });
  });

  describe('soar-init.sh against a loopback splunkd', () => {
    let rest: RestStub;
    beforeEach(async () => {
      rest = await startRestStub();
    });
    afterEach(async () => rest.close());
    const base = () => ({ SPLUNK_PORT: String(rest.port), SPLUNK_PASSWORD: ADMIN_PASSWORD });

    it('stores the three secrets in realm soar_edr of app soar_edr, lists them, exit 0', async () => {
      const r = await runSoarInit({ ...base(), ...SECRETS });
      assert.equal(r.code, 0, r.stderr);
      const stored = Object.fromEntries(rest.passwords.map((p) => [`${p.app}/${p.realm}/${p.username}`, p.password]));
      assert.deepEqual(stored, {
        'soar_edr/soar_edr/virustotal_api_key': SECRETS.SOAR_VIRUSTOTAL_API_KEY,
        'soar_edr/soar_edr/abuseipdb_api_key': SECRETS.SOAR_ABUSEIPDB_API_KEY,
        'soar_edr/soar_edr/discord_webhook_url': SECRETS.SOAR_DISCORD_WEBHOOK_URL,
      });
      assert.match(r.stdout, /virustotal_api_key\tstored\nabuseipdb_api_key\tstored\ndiscord_webhook_url\tstored\n$/);
      for (const v of Object.values(SECRETS)) assert.ok(!(r.stdout + r.stderr).includes(v), 'a value is never printed');
    });

    it('never puts a secret or the admin password on a command line (what ps shows)', async () => {
      // splunkd "not ready" for the first answers keeps the script and its CLI runs alive longer
      rest.failWith = 503;
      const r = await runSoarInit({ ...base(), ...SECRETS }, (n) => {
        if (n >= 2) rest.failWith = undefined;
      }, rest);
      assert.equal(r.code, 0, r.stderr);
      const ours = [...r.cmdlines].filter((c) => c.includes(CLI));
      assert.ok(ours.some((c) => /secrets set (--insecure )?virustotal_api_key$/.test(c)), `the CLI runs were seen: ${ours.join(' | ')}`);
      for (const c of r.cmdlines) {
        for (const v of [...Object.values(SECRETS), ADMIN_PASSWORD]) assert.ok(!c.includes(v), `a command line holds a secret: ${c}`);
      }
    });

    it('skips what .env leaves empty, and says so', async () => {
      const r = await runSoarInit({ ...base(), SOAR_VIRUSTOTAL_API_KEY: SECRETS.SOAR_VIRUSTOTAL_API_KEY, SOAR_ABUSEIPDB_API_KEY: '' });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        rest.passwords.map((p) => p.username),
        ['virustotal_api_key'],
      );
      assert.match(r.stdout, /abuseipdb_api_key not set in \.env, skipped/);
      assert.match(r.stdout, /discord_webhook_url not set in \.env, skipped/);
      assert.match(r.stdout, /virustotal_api_key\tstored\nabuseipdb_api_key\tnot set\n/);
    });

    it('retries while splunkd answers with errors (not ready yet), then stores', async () => {
      rest.failWith = 500;
      const r = await runSoarInit({ ...base(), SOAR_VIRUSTOTAL_API_KEY: SECRETS.SOAR_VIRUSTOTAL_API_KEY }, (n) => {
        if (n >= 2) rest.failWith = undefined;
      }, rest);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(rest.passwords.length, 1);
      assert.equal(r.stderr.match(/answered .* with HTTP 500/g)?.length, 2, `two refused attempts, then stored: ${r.stderr}`);
    });

    it('gives up after SOAR_INIT_ATTEMPTS when splunkd keeps failing: exit 1, stores nothing', async () => {
      rest.failWith = 500;
      const r = await runSoarInit({ ...base(), SOAR_VIRUSTOTAL_API_KEY: SECRETS.SOAR_VIRUSTOTAL_API_KEY, SOAR_INIT_ATTEMPTS: '2', SOAR_INIT_PAUSE: '0' });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /gave up storing virustotal_api_key after 2 attempts/);
      assert.equal(passwordRequests(rest), 2);
      assert.equal(rest.passwords.length, 0);
    });

    it('gives up when splunkd is unreachable', async () => {
      const r = await runSoarInit({ SPLUNK_PORT: '1', SPLUNK_PASSWORD: ADMIN_PASSWORD, SOAR_DISCORD_WEBHOOK_URL: SECRETS.SOAR_DISCORD_WEBHOOK_URL, SOAR_INIT_ATTEMPTS: '2', SOAR_INIT_PAUSE: '0' });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /cannot reach splunkd/);
      assert.match(r.stderr, /gave up storing discord_webhook_url after 2 attempts/);
    });

    it('stops at once on a refused login (wrong SPLUNK_PASSWORD) and says what to do', async () => {
      const r = await runSoarInit({ ...base(), SPLUNK_PASSWORD: 'not-the-password', ...SECRETS });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /refused the admin login.*SPLUNK_PASSWORD in \.env only sets the password on the first start.*docker compose down -v/);
      assert.equal(rest.requests.length, 1, 'one login attempt, no retries, no further secrets');
      assert.equal(rest.passwords.length, 0);
    });
  });
});
