/**
 * The README a newcomer reads first, and the docs/ pages it links to: short, with the two
 * commands on the first screen, no words a user cannot look up, links that lead somewhere,
 * commands that run, and an example report and Discord card that are what the code writes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { buildDiscordMessage, VERDICT_COLORS } from '../../src/respond/discord-embed';
import { firewallCommands } from '../../src/respond/firewall-commands';
import type { Incident, Verdict } from '../../src/respond/incident';
import { renderIncidentReport } from '../../src/respond/incident-report';
import { REPO_ROOT } from '../support/paths';
import { anchors, brokenLinks, codeBlocks, headingAnchor, linkTargets } from './markdown';
import { ip } from '../support/ip-address';

const README = 'README.md';
const readText = (file: string): string => readFileSync(path.join(REPO_ROOT, file), 'utf8');
const docsPages = (): string[] =>
  readdirSync(path.join(REPO_ROOT, 'docs'))
    .filter((n) => n.endsWith('.md'))
    .map((n) => `docs/${n}`);

/** The README section under the first `## ` heading matching `title`, up to the next one. */
function section(text: string, title: RegExp): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^## /.test(l) && title.test(l));
  assert.ok(start >= 0, `the README has a section ${title}`);
  const end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

/**
 * The incident the README's "What you get" shows: a run of the packaged action on 40
 * fast-bruteforce events from 138.128.150.133, VirusTotal's recorded answer for that address
 * (opencti_vt_test_ipv4.json), no AbuseIPDB key, the default one-day block.
 */
function exampleIncident(): Incident {
  const time = '2026-12-06T12:45:31.358Z';
  const nowEpochSec = Math.floor(Date.parse(time) / 1000);
  const expiresEpochSec = nowEpochSec + 86_400;
  const commands = firewallCommands(ip('138.128.150.133'), { nowEpochSec, expiresEpochSec });
  assert.ok(commands.ok);
  const sid = 'scheduler__admin__search__RMD51a24b6356c3_at_1764000000_10';
  return {
    incidentId: 'INC-20261206-124531-126b7c',
    time,
    srcIp: '138.128.150.133',
    verdict: 'MALICIOUS',
    reason: '4/93 engines malicious',
    detection: 'SOAR-EDR - SSH brute force',
    sid,
    rid: '0',
    failureCount: 40,
    users: ['admin', 'oracle', 'root', 'support', 'test', 'uucp'],
    attackType: 'ssh_brute_force',
    severity: 'high',
    firstSeen: '2026-12-06T12:44:31+00:00',
    lastSeen: '2026-12-06T12:45:12+00:00',
    resultsLink: `http://splunk-test:8000/app/search/@go?sid=${sid}`,
    vt: { malicious: 4, suspicious: 0, harmless: 77, undetected: 12, timeout: 0, reputation: 1, country: 'GB', asOwner: 'CLOUD-SOUTH', asn: 13886, network: '138.128.150.0/24' },
    action: {
      kind: 'blocked',
      reason: 'MALICIOUS: simulated block for 86400 s',
      expires: new Date(expiresEpochSec * 1000).toISOString(),
      commands: commands.value,
    },
  };
}

/** The row of the README's card table whose first cell is `part`. */
function cardRow(part: string): string {
  const row = section(readText(README), /What you get/)
    .split('\n')
    .find((l) => l.startsWith(`| ${part} |`));
  assert.ok(row !== undefined, `the card table has a "${part}" row`);
  return row.split('|')[2]!.trim();
}

/** Discord markdown escapes (`ssh\_brute\_force`) as the channel shows them. */
const shown = (discordText: string): string => discordText.replace(/\\([^A-Za-z0-9\s])/g, '$1');

describe('README and docs/', () => {
  describe('the README', () => {
    const readme = readText(README);

    it('is at most 200 lines', () => {
      const lines = readme.split('\n').length;
      assert.ok(lines <= 200, `README.md has ${lines} lines`);
    });

    it('shows both commands, to run it and to test it, in its first 40 lines', () => {
      const head = readme.split('\n').slice(0, 40);
      assert.ok(head.some((l) => l.startsWith('docker compose up -d ')), 'docker compose up -d');
      assert.ok(head.some((l) => l.startsWith('npm ci && npm test ')), 'npm ci && npm test');
      assert.match(head.join('\n'), /cp \.env\.example \.env/, 'says what to do before up -d');
    });

    it('uses no word a user cannot resolve (internal notes, paths outside the repository)', () => {
      for (const word of [/\bseeds?\b/i, /DESIGN\.md/, /\.\.\/shared/, /shared\/corpus/, /\bissue #?\d+/i]) {
        assert.doesNotMatch(readme, word);
      }
    });

    it('links to every page of docs/', () => {
      const linked = new Set(linkTargets(readme).map((t) => t.split('#')[0]));
      for (const page of docsPages().filter((p) => p !== 'docs/README.md')) assert.ok(linked.has(page), `README links ${page}`);
    });
  });

  describe('docs/', () => {
    it('holds the pages the README promises', () => {
      const pages = docsPages();
      for (const p of ['install', 'alert-action', 'detections', 'cli', 'operations', 'architecture', 'security', 'splunk-confirmation', 'README']) {
        assert.ok(pages.includes(`docs/${p}.md`), `docs/${p}.md`);
      }
    });

    it('uses no internal file names or paths outside the repository', () => {
      for (const page of docsPages()) {
        const text = readText(page);
        for (const word of [/DESIGN\.md/, /\.\.\/shared/, /shared\/corpus/, /corpus\/README/, /\bseeds'/i, /\bseed \d{3}\b/i]) {
          assert.doesNotMatch(text, word, `${page}: ${word}`);
        }
      }
    });

    it('carries no draft markers or retired names (README too)', () => {
      // a scenario's old name, the fixture folders' old source-file name, notes left while writing
      for (const page of [README, ...docsPages()]) {
        const text = readText(page);
        for (const word of [/<!--\s*reconcile/i, /seed-guide/i, /\bSOURCE\.md/]) assert.doesNotMatch(text, word, `${page}: ${word}`);
      }
    });

    it("the CLI reference's first generate example is what npm run attack sends, and the README counts its events", () => {
      const script = (JSON.parse(readText('package.json')) as { scripts: Record<string, string> }).scripts['attack'];
      assert.ok(script !== undefined, 'package.json has an attack script');
      const options = /node dist\/cli\/soar-edr\.cjs (generate .*)$/.exec(script)?.[1];
      assert.ok(options !== undefined, script);
      const cli = readText('docs/cli.md');
      const generate = cli.slice(cli.indexOf('## generate'), cli.indexOf('## reputation'));
      const examples = codeBlocks(generate).find((b) => b.info === 'sh');
      assert.equal(examples?.lines[0], `soar-edr ${options}`);
      const count = /--count (\d+)/.exec(options)?.[1];
      assert.match(section(readText(README), /Send an attack/), new RegExp(`\\b${count} guesses\\b`));
    });

    it('keeps its pictures small (under 100 KB)', () => {
      const dir = path.join(REPO_ROOT, 'docs', 'img');
      for (const name of readdirSync(dir)) assert.ok(statSync(path.join(dir, name)).size < 100_000, `docs/img/${name}`);
    });
  });

  describe('links', () => {
    it('every relative link in README.md and docs/*.md leads to a file of the repository (and a heading of it)', () => {
      const problems = [README, ...docsPages()].flatMap((f) => brokenLinks(REPO_ROOT, f));
      assert.deepEqual(problems, []);
    });

    it('the link check itself: anchors as GitHub makes them, and a broken link is found', () => {
      assert.equal(headingAnchor('The alert action `soar_response`'), 'the-alert-action-soar_response');
      assert.equal(headingAnchor('Troubleshooting (Docker)'), 'troubleshooting-docker');
      assert.equal(headingAnchor('--enrich'), '--enrich');
      assert.deepEqual([...anchors('# A\n## A\n```\n# not a heading\n```\n')], ['a', 'a-1']);
      assert.deepEqual(linkTargets('[a](x.md) `[b](y.md)` ![c](img/z.png)\n```\n[d](w.md)\n```'), ['x.md', 'img/z.png']);
      // a page of this test's own making, checked against the real repository
      const fake = 'docs/__link_check_probe__.md';
      const text = '[ok](install.md#docker-compose) [gone](nowhere.md) [bad anchor](install.md#no-such-heading) [out](../../x.md)';
      const problems = brokenLinks(REPO_ROOT, fake, text);
      assert.deepEqual(problems, [
        `${fake}: nowhere.md names no file`,
        `${fake}: install.md#no-such-heading names no heading of docs/install.md`,
        `${fake}: ../../x.md points outside the repository`,
      ]);
    });
  });

  describe('"Try it without Splunk": the commands run against the built CLI (npm test builds it)', () => {
    const block = codeBlocks(section(readText(README), /without Splunk/))[0];
    const commands = (block?.lines ?? []).filter((l) => l.startsWith('node dist/cli/soar-edr.cjs '));

    it('the section shows three soar-edr commands', () => {
      assert.equal(commands.length, 3, commands.join('\n'));
    });

    for (const command of commands) {
      it(command, () => {
        const [, script, ...args] = command.split(/\s+/);
        const run = spawnSync(process.execPath, [script!, ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
        assert.equal(run.error, undefined);
        // 0, or 1 for authlog/winlog when they find something (as the README says); 2 and up are errors
        assert.ok(run.status === 0 || run.status === 1, `exit ${run.status}: ${run.stderr}`);
        assert.ok(run.stdout.trim().split('\n').length >= 3, `useful output: ${run.stdout}`);
        assert.equal(run.stderr, '');
      });
    }
  });

  describe('"What you get": the example is what the code writes', () => {
    const incident = exampleIncident();

    it('every line of the report excerpt is in the report, in order (… marks a cut)', () => {
      const excerpt = codeBlocks(section(readText(README), /What you get/))[0];
      assert.ok(excerpt !== undefined);
      const report = renderIncidentReport(incident);
      let from = 0;
      const chunks = excerpt.lines.join('\n').split(/^…$/m).map((c) => c.replace(/^\n+|\n+$/g, ''));
      assert.ok(chunks.length >= 2 && chunks.every((c) => c.length > 0));
      for (const chunk of chunks) {
        const at = report.indexOf(chunk, from);
        assert.ok(at >= 0, `not in the report (after offset ${from}):\n${chunk}\n--- report:\n${report}`);
        from = at + chunk.length;
      }
    });

    it('the card table: title, description and fields as buildDiscordMessage makes them', () => {
      const embed = buildDiscordMessage(incident).embeds[0]!;
      assert.equal(/`([^`]+)`/.exec(cardRow('title'))?.[1], shown(embed.title));
      assert.equal(/`([^`]+)`/.exec(cardRow('description'))?.[1], shown(embed.description));
      const withoutCount = (name: string) => name.replace(/\s*\([^)]*\)$/, '');
      assert.deepEqual(
        cardRow('fields').split(' · ').map(withoutCount),
        embed.fields.map((f) => withoutCount(f.name)),
      );
    });

    it('the card table: the color of each verdict', () => {
      const row = cardRow('color');
      const listed = new Map([...row.matchAll(/(MALICIOUS|SUSPICIOUS|SAFE|UNKNOWN) \w+ `#([0-9A-F]{6})`/g)].map((m) => [m[1] as Verdict, parseInt(m[2]!, 16)]));
      assert.deepEqual(Object.fromEntries(listed), { ...VERDICT_COLORS });
    });
  });
});

