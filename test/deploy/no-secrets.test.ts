/**
 * No password, key or webhook in any committed file of the Docker setup: .env.example,
 * docker-compose.yml, .dockerignore and everything under docker/. Secrets come from .env
 * (git-ignored) through `${VAR}` references only.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, repoFile } from './deploy-files';

interface SecretFinding {
  readonly line: number;
  readonly what: string;
  readonly text: string;
}

const SECRET_NAME = /(password|passwd|secret|token|api_?key|apikey|webhook(_url)?|pass4symmkey)/i;

/** A value that only refers to something else: empty, `${VAR…}`/`$VAR`, or a word compose/sh reads as a variable. */
function isReference(value: string): boolean {
  const v = value.trim().replace(/^["']|["']$/g, '');
  return v === '' || /^\$\{?[A-Za-z_][A-Za-z0-9_]*/.test(v) || /^\$[1-9]$/.test(v);
}

/**
 * Things in a text that look like a secret value: a VirusTotal-style (64 hex) or AbuseIPDB-style
 * (80 hex) key, a Discord webhook URL with its token, a private key block, a `--password` given
 * on a command line, and any `NAME=value` / `NAME: value` whose name says secret and whose value
 * is a literal rather than a reference.
 */
function findSecrets(text: string): SecretFinding[] {
  const found: SecretFinding[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const add = (what: string) => found.push({ line: i + 1, what, text: line.trim() });
    const code = line.replace(/(^|\s)#.*$/, '');
    if (/\b[0-9a-f]{80}\b/i.test(line)) add('80-hex-digit key (AbuseIPDB-like)');
    else if (/\b[0-9a-f]{64}\b/i.test(line)) add('64-hex-digit key (VirusTotal-like)');
    if (/discord(?:app)?\.com\/api\/(?:v\d+\/)?webhooks\/\d+\/[\w-]+/i.test(line)) add('Discord webhook URL with token');
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(line)) add('private key');
    const flag = /--password[= ]+(\S+)/.exec(code);
    if (flag && !isReference(flag[1]!) && !flag[1]!.startsWith('<')) add('--password on a command line');
    for (const m of code.matchAll(/([A-Za-z_][A-Za-z0-9_.-]*)\s*(?:=|:(?=\s))\s*("[^"]*"|'[^']*'|[^\s#]+)?/g)) {
      const [, name, value = ''] = m as unknown as [string, string, string | undefined];
      if (!SECRET_NAME.test(name)) continue;
      if (!isReference(value)) add(`${name} set to a literal`);
    }
  });
  return found;
}

const FILES = ['.env.example', 'docker-compose.yml', '.dockerignore', ...readdirSync(path.join(REPO_ROOT, 'docker')).map((f) => `docker/${f}`)];

describe('no secrets in the committed Docker files', () => {
  it(`scans ${FILES.join(', ')}`, () => {
    assert.ok(FILES.includes('docker/Dockerfile') && FILES.includes('docker/soar-init.sh'));
  });

  for (const file of FILES) {
    it(`${file} holds no password, key or webhook value`, () => {
      assert.deepEqual(findSecrets(repoFile(file)), []);
    });
  }

  it('the scanner finds each kind of planted secret, with its line', () => {
    const planted = [
      'SPLUNK_PASSWORD=Changeme123',
      '      SPLUNK_PASSWORD: hunter2hunter2',
      `SOAR_VIRUSTOTAL_API_KEY=${'ab12'.repeat(16)}`,
      `key ${'0f'.repeat(40)}`,
      'SOAR_DISCORD_WEBHOOK_URL="https://discord.com/api/webhooks/1234567890/AbC-dEf_123"',
      'node soar-edr.cjs secrets list --password Sup3rSecret',
      "ENV SPLUNK_HEC_TOKEN='00000000-0000-0000-0000-000000000000'",
    ].join('\n');
    const found = findSecrets(planted);
    assert.deepEqual(
      [...new Set(found.map((f) => f.line))],
      [1, 2, 3, 4, 5, 6, 7],
      JSON.stringify(found, null, 1),
    );
    assert.ok(found.some((f) => f.line === 3 && /64-hex/.test(f.what)));
    assert.ok(found.some((f) => f.line === 4 && /80-hex/.test(f.what)));
    assert.ok(found.some((f) => f.line === 5 && /webhook URL/.test(f.what)));
  });

  it('the scanner lets references and empty placeholders through', () => {
    const fine = [
      'SPLUNK_PASSWORD=',
      'SOAR_DISCORD_WEBHOOK_URL=',
      '      SPLUNK_PASSWORD: ${SPLUNK_PASSWORD:?set it in .env}',
      '      SOAR_VIRUSTOTAL_API_KEY: ${SOAR_VIRUSTOTAL_API_KEY:-}',
      'store virustotal_api_key "${SOAR_VIRUSTOTAL_API_KEY:-}" || status=1',
      '# Discord webhook URL: channel settings > Integrations > Webhooks',
      'password=$2',
    ].join('\n');
    assert.deepEqual(findSecrets(fine), []);
  });
});
