/**
 * The same hostile incident through every sink: CSV row, TXT report, Discord embed.
 */
import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import { createObjectCsvStringifier } from 'csv-writer';
import { buildDiscordMessage, discordMessageViolations } from '../../src/respond/discord-embed';
import type { Incident } from '../../src/respond/incident';
import { renderIncidentReport } from '../../src/respond/incident-report';
import { incidentCsvColumns, incidentCsvRecord } from '../../src/respond/incident-row';
import { hostileUsers, realisticIncident } from './corpus';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const CONTROL_OR_BIDI = /[\u0000-\u0009\u000B-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/;
const MARKDOWN_SPECIAL = '\\*_~`|>#-[]()<+';

/** Markdown characters not preceded by an escaping backslash, read left to right as Discord does. */
function unescapedSpecials(text: string): string[] {
  const found: string[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') {
      i += 1;
      continue;
    }
    if (MARKDOWN_SPECIAL.includes(text[i])) found.push(text[i]);
  }
  return found;
}

describe('respond: hostile attacker strings in every sink', () => {
  const users = hostileUsers();
  const incident: Incident = {
    ...realisticIncident(),
    users,
    detection: '=cmd|\' /C calc\'!A0 @everyone **SSH** brute force',
    reason: 'AbuseIPDB says [trusted](https://evil.example) <@&1> \u202Eesrever',
    attackType: '@here',
    addressNote: '\r\nForged: yes',
  };

  it('uses the hostile set the brief asks for: 30 users incl. a 2,000-character name and invalid UTF-8', () => {
    assert.equal(users.length, 30);
    assert.ok(users.some((u) => u.length === 2000));
    assert.ok(users.includes('\uFFFD\uFFFDA'));
    assert.ok(users.includes('=HYPERLINK("http://x")'));
  });

  describe('CSV', () => {
    const record = incidentCsvRecord(incident);

    it('no cell can start a formula, break a line or carry a lone surrogate', () => {
      for (const [column, cell] of Object.entries(record)) {
        assert.doesNotMatch(cell, /^[=+\-@\t\r]/, column);
        assert.doesNotMatch(cell, /[\r\n\u0000]/, column);
        assert.doesNotMatch(cell, LONE_SURROGATE, column);
      }
      assert.ok(record.users.startsWith(`'=HYPERLINK("http://x")`));
      assert.ok(record.detection.startsWith(`'=cmd|`));
    });

    it('keeps the evidence readable: markers instead of invisible characters', () => {
      assert.ok(record.users.includes('root<U+000D><U+000A>Time: forged'));
      assert.ok(record.users.includes('<U+202E>gnp.exe'));
      assert.ok(record.users.includes('\uFFFD\uFFFDA'));
      assert.ok(record.users.includes('lone\uFFFDsurrogate'));
      assert.ok(record.users.includes('x'.repeat(2000)));
      assert.equal(record.users.split(';').length, 30);
    });

    it('writes and parses back as exactly one row with the same cells', () => {
      const stringifier = createObjectCsvStringifier({ header: incidentCsvColumns.map((c) => ({ id: c, title: c })) });
      const text = stringifier.getHeaderString() + stringifier.stringifyRecords([record]);
      assert.equal(text.split('\n').filter((l) => l !== '').length, 2, 'header + one physical line');
      const rows = parse(text, { columns: true }) as Record<string, string>[];
      assert.equal(rows.length, 1);
      assert.deepEqual(rows[0], record);
    });
  });

  describe('TXT report', () => {
    const report = renderIncidentReport(incident);
    const lines = report.split('\n');

    it('no attacker string can add a line, reorder text or carry a lone surrogate', () => {
      assert.doesNotMatch(report, CONTROL_OR_BIDI);
      assert.doesNotMatch(report, LONE_SURROGATE);
      assert.ok(!lines.some((l) => l.startsWith('Time: forged')));
      assert.ok(!lines.some((l) => l.startsWith('Forged: yes')));
      assert.equal(lines.filter((l) => l.startsWith('Time:')).length, 1);
    });

    it('lists all 30 users, quoted, neutralised and whole', () => {
      const userLines = lines.filter((l) => l.startsWith('  - "'));
      assert.equal(userLines.length, 30);
      assert.ok(report.includes('  - "root<U+000D><U+000A>Time: forged"'));
      assert.ok(report.includes('  - "=HYPERLINK(\\"http://x\\")"'));
      assert.ok(report.includes('  - " 0101"'));
      assert.ok(report.includes('  - "\uFFFD\uFFFDA"'));
      assert.ok(report.includes(`  - "${'x'.repeat(2000)}"`));
      assert.ok(report.includes('<U+202E>esrever'));
    });
  });

  describe('Discord', () => {
    const message = buildDiscordMessage(incident);
    const embed = message.embeds[0];
    const usersField = embed.fields.find((f) => f.name === 'Target users (30)');

    it('stays within every limit and never allows mentions', () => {
      assert.deepEqual(message.allowed_mentions, { parse: [] });
      assert.deepEqual(discordMessageViolations(message), []);
      assert.ok(usersField);
      assert.ok(usersField.value.length <= 1024);
      // each name is capped at 100 characters in Discord, so all 30 fit in one field
      assert.ok(usersField.value.endsWith(', user28, user29'));
      assert.equal(usersField.value.split(', ').length, 30);
    });

    it('attacker text cannot format, mention or link', () => {
      assert.ok(usersField);
      const attackerText = [
        usersField.value,
        embed.description.split('\n')[0],
        embed.fields.find((f) => f.name === 'Detection')!.value.split('\n')[0],
      ];
      for (const text of attackerText) {
        assert.deepEqual(unescapedSpecials(text), [], text.slice(0, 80));
        assert.doesNotMatch(text, /@(everyone|here)/i);
        assert.doesNotMatch(text, /https?:\/\//);
        assert.doesNotMatch(text, CONTROL_OR_BIDI);
      }
      assert.ok(usersField.value.startsWith('=HYPERLINK\\("http\\://x"\\)'));
      assert.ok(usersField.value.includes('@\u200Beveryone'));
      assert.ok(usersField.value.includes('\\*\\*bold\\*\\*'));
      assert.ok(usersField.value.includes('\uFFFD\uFFFDA'));
      assert.ok(embed.title.includes('@\u200Bhere'));
    });

    it('the long name is cut, the only links are the ones we built', () => {
      assert.ok(usersField);
      assert.ok(!usersField.value.includes('x'.repeat(101)));
      const links = embed.fields.find((f) => f.name === 'Links');
      assert.ok(links);
      assert.ok(!links.value.includes('evil'));
      assert.doesNotMatch(JSON.stringify(message), /\]\(https:\/\/evil/);
    });
  });
});
