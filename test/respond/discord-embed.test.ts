import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import fc from 'fast-check';
import {
  buildDiscordMessage,
  buildDiscordUpdateMessage,
  DISCORD_LIMITS,
  discordMessageViolations,
  DiscordMessage,
  validateWebhookUsername,
  VERDICT_COLORS,
} from '../../src/respond/discord-embed';
import type { Incident, Verdict } from '../../src/respond/incident';
import {
  abuseFromCheck,
  ATTACKER,
  capturedVirusTotal,
  corpusPath,
  realisticIncident,
  realWorldAbuse,
  splunkPayload,
  sshdAttack,
} from './corpus';

/** The limits as the Discord docs in the corpus state them, read from the docs themselves. */
function documentedLimits(): Record<string, number> {
  const doc = fs.readFileSync(
    corpusPath('discord', 'discord-api-docs__developers_resources_message.mdx__EmbedObject_excerpt.mdx'),
    'utf8',
  );
  const limit = (pattern: RegExp): number => {
    const m = pattern.exec(doc);
    assert.ok(m, `docs state ${pattern}`);
    return Number(m[1]);
  };
  return {
    title: limit(/^\| title\s+\| (\d+) characters/m),
    description: limit(/^\| description\s+\| (\d+) characters/m),
    fields: limit(/^\| fields\s+\| Up to (\d+)/m),
    fieldName: limit(/\[field\.name\][^|]*\| (\d+) characters/),
    fieldValue: limit(/\[field\.value\][^|]*\| (\d+) characters/),
    footerText: limit(/\[footer\.text\][^|]*\| (\d+) characters/),
    authorName: limit(/\[author\.name\][^|]*\| (\d+) characters/),
    embedTotal: limit(/must not exceed (\d+) characters/),
  };
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function allStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(allStrings);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(allStrings);
  return [];
}

/** Independent re-count of every limit (the test does not trust discordMessageViolations alone). */
function assertWithinLimits(message: DiscordMessage, limits: Record<string, number>): void {
  assert.deepEqual(message.allowed_mentions, { parse: [] });
  assert.equal(message.embeds.length, 1);
  const e = message.embeds[0];
  const n = (s: string): number => s.trim().length;
  assert.ok(n(e.title) > 0 && n(e.title) <= limits.title, `title ${n(e.title)}`);
  assert.ok(n(e.description) <= limits.description);
  assert.ok(e.fields.length <= limits.fields);
  let total = n(e.title) + n(e.description) + n(e.footer.text);
  for (const f of e.fields) {
    assert.ok(n(f.name) > 0 && n(f.name) <= limits.fieldName, `field name ${f.name}`);
    assert.ok(n(f.value) > 0 && n(f.value) <= limits.fieldValue, `field ${f.name} value ${n(f.value)}`);
    total += n(f.name) + n(f.value);
  }
  assert.ok(n(e.footer.text) > 0 && n(e.footer.text) <= limits.footerText);
  assert.ok(total <= limits.embedTotal, `total ${total}`);
  if (message.content !== undefined) assert.ok(n(message.content) <= 2000);
  if (e.timestamp !== undefined) assert.equal(new Date(e.timestamp).toISOString(), e.timestamp);
  if (e.url !== undefined) assert.match(e.url, /^https:\/\/www\.virustotal\.com\/gui\/ip-address\//);
  for (const text of allStrings(message)) assert.doesNotMatch(text, LONE_SURROGATE);
  assert.deepEqual(discordMessageViolations(message), []);
}

function fieldValue(message: DiscordMessage, name: string): string {
  const f = message.embeds[0].fields.find((x) => x.name === name || x.name.startsWith(`${name} (`));
  assert.ok(f, `field ${name}`);
  return f.value;
}

describe('respond/discord-embed', () => {
  const limits = documentedLimits();
  const incident = realisticIncident();
  const message = buildDiscordMessage(incident, { username: 'SOAR-EDR' });
  const embed = message.embeds[0];

  it('uses the limits Discord documents', () => {
    for (const [key, value] of Object.entries(limits)) {
      assert.equal(DISCORD_LIMITS[key as keyof typeof DISCORD_LIMITS], value, key);
    }
  });

  it('renders the realistic incident as one red embed with the real values', () => {
    const attack = sshdAttack(ATTACKER);
    const vt = capturedVirusTotal();
    assert.equal(message.username, 'SOAR-EDR');
    assert.equal(embed.color, 15158332);
    assert.equal(embed.title, `MALICIOUS · ssh\\_bruteforce from ${ATTACKER}`);
    assert.equal(embed.description, incident.reason);
    assert.equal(embed.url, `https://www.virustotal.com/gui/ip-address/${ATTACKER}`);
    assert.equal(embed.timestamp, incident.time);
    assert.equal(fieldValue(message, 'Attacker IP'), `\`${ATTACKER}\``);
    assert.equal(fieldValue(message, 'Target users'), attack.users.join(', '));
    assert.ok(embed.fields.some((f) => f.name === `Target users (${attack.users.length})`));
    assert.equal(fieldValue(message, 'Failures'), '286');
    assert.match(fieldValue(message, 'VirusTotal'), new RegExp(`^\\*\\*${vt.malicious}\\*\\* malicious · \\*\\*${vt.suspicious}\\*\\* suspicious\n${vt.harmless} harmless`));
    assert.match(fieldValue(message, 'AbuseIPDB'), /^score \*\*100\*\*\/100\n1 report from 1 reporter\nusage: Data Center\/Web Hosting\/Transit\nTor: no · whitelisted: no$/);
    assert.equal(fieldValue(message, 'Country / ASN'), `${vt.country} · AS${vt.asn} CLOUD\\-SOUTH · ${vt.network}`);
    assert.match(fieldValue(message, 'Action'), /^\*\*Blocked\*\* \(simulated\) until \d{4}-\d{2}-\d{2}T[\d:.]+Z \(<t:\d+:R>\)\nverdict MALICIOUS$/);
    assert.equal(fieldValue(message, 'Detection'), `${splunkPayload().search_name}\nseverity: high · type: ssh\\_bruteforce`);
    assert.match(fieldValue(message, 'Time'), new RegExp(`^${incident.time.replace(/\./g, '\\.')} \\(<t:${Date.parse(incident.time) / 1000}:R>\\)`));
    assert.equal(
      fieldValue(message, 'Links'),
      `[Splunk results](${splunkPayload().results_link}) · [VirusTotal](https://www.virustotal.com/gui/ip-address/${ATTACKER}) · [AbuseIPDB](https://www.abuseipdb.com/check/${ATTACKER})`,
    );
    assert.match(embed.footer.text, /^SOAR-EDR · incident /);
    assertWithinLimits(message, limits);
  });

  it('lists as many of 30 long user names as fit and counts the rest', () => {
    const users = Array.from({ length: 30 }, (_, i) => `${String(i).padStart(2, '0')}${'u'.repeat(198)}`);
    const m = buildDiscordMessage({ ...incident, users });
    const value = fieldValue(m, 'Target users');
    assert.ok(value.length <= 1024);
    const listed = value.split(', ').length - 1;
    assert.ok(listed >= 9, `${listed} listed`);
    assert.ok(value.endsWith(`… and ${30 - listed} more`), value.slice(-40));
    assert.ok(value.startsWith(`00${'u'.repeat(97)}…`));
    assertWithinLimits(m, limits);
  });

  it('colours each verdict as documented', () => {
    const expected: Record<Verdict, number> = { MALICIOUS: 15158332, SUSPICIOUS: 15105570, SAFE: 3447003, UNKNOWN: 9807270 };
    for (const verdict of Object.keys(expected) as Verdict[]) {
      const m = buildDiscordMessage({ ...incident, verdict });
      assert.equal(m.embeds[0].color, expected[verdict]);
      assert.equal(VERDICT_COLORS[verdict], expected[verdict]);
      assert.ok(m.embeds[0].title.startsWith(verdict));
    }
  });

  it('shows real AbuseIPDB nulls and unavailable lookups as n/a, without third-party links', () => {
    const withNulls = [...realWorldAbuse().values()].find((d) => d.isWhitelisted === null && d.countryCode === null);
    assert.ok(withNulls);
    const m = buildDiscordMessage({
      ...incident,
      srcIp: withNulls.ipAddress,
      vt: { state: 'not_looked_up', message: 'private address' },
      abuse: abuseFromCheck(withNulls),
      failureCount: undefined,
      users: [],
      resultsLink: null,
      attackType: null,
      addressNote: 'private (RFC 1918): not sent to third parties',
    });
    assert.equal(fieldValue(m, 'VirusTotal'), 'not looked up: private address');
    assert.match(fieldValue(m, 'AbuseIPDB'), /whitelisted: n\/a$/);
    assert.equal(fieldValue(m, 'Failures'), 'n/a');
    assert.equal(fieldValue(m, 'Target users'), 'n/a');
    assert.equal(m.embeds[0].url, undefined);
    assert.ok(m.embeds[0].description.endsWith('*private \\(RFC 1918\\): not sent to third parties*'));
    assert.match(m.embeds[0].title, /Brute force from /);
    const links = m.embeds[0].fields.find((f) => f.name === 'Links');
    assert.ok(links === undefined || !/virustotal/.test(links.value));
    assertWithinLimits(m, limits);
  });

  it('builds no link at all from an address that does not validate', () => {
    const m = buildDiscordMessage({ ...incident, srcIp: '1.2.3.4; rm -rf /', resultsLink: 'javascript:alert(1)' });
    assert.equal(m.embeds[0].url, undefined);
    assert.equal(m.embeds[0].fields.find((f) => f.name === 'Links'), undefined);
    assert.equal(fieldValue(m, 'Attacker IP'), '1.2.3.4; rm \\-rf /');
    assertWithinLimits(m, limits);
  });

  it('omits the timestamp when the incident time is not ISO 8601', () => {
    const m = buildDiscordMessage({ ...incident, time: 'Dec 10 06:55:46' });
    assert.equal(m.embeds[0].timestamp, undefined);
    assert.equal(fieldValue(m, 'Time').split('\n')[0], 'Dec 10 06:55:46');
    assertWithinLimits(m, limits);
  });

  it('leaves out a webhook name Discord would refuse, and escapes content', () => {
    for (const name of ['Clyde bot', 'my discord alerts', 'a@b', 'x#1', 'a:b', 'everyone', '', 'n'.repeat(81), 'a```b']) {
      assert.equal(validateWebhookUsername(name).ok, false, name);
      assert.equal(buildDiscordMessage(incident, { username: name }).username, undefined, name);
    }
    const m = buildDiscordMessage(incident, { content: '@everyone new incident' });
    assert.equal(m.content, '@\u200Beveryone new incident');
    const long = buildDiscordMessage(incident, { content: '*'.repeat(5000) });
    assert.ok(long.content !== undefined && long.content.length <= 2000);
    assertWithinLimits(long, limits);
  });

  it('an enrichment update says what changed and keeps the limits', () => {
    const update = buildDiscordUpdateMessage(incident, 'UNKNOWN');
    assert.equal(update.embeds[0].title, `Update · ${ATTACKER}: UNKNOWN → MALICIOUS`);
    assert.equal(update.embeds[0].color, 15158332);
    assert.match(fieldValue(update, 'VirusTotal'), /^\*\*4\*\* malicious/);
    assert.match(update.embeds[0].footer.text, / · update$/);
    assertWithinLimits(update, limits);
    const same = buildDiscordUpdateMessage({ ...incident, verdict: 'SAFE' }, 'SAFE');
    assert.equal(same.embeds[0].title, `Update · ${ATTACKER}: enrichment complete, still SAFE`);
    assert.equal(same.embeds[0].color, 3447003);
  });

  it('discordMessageViolations names each broken limit', () => {
    const bad = {
      content: 'x'.repeat(2001),
      username: 'clyde',
      allowed_mentions: { parse: ['everyone'] },
      embeds: [
        {
          title: 't'.repeat(257),
          description: 'd'.repeat(4097),
          fields: Array.from({ length: 26 }, () => ({ name: 'n', value: 'v'.repeat(1025) })),
          footer: { text: 'f'.repeat(2049) },
          author: { name: 'a'.repeat(257) },
          timestamp: 'yesterday',
        },
      ],
    };
    const problems = discordMessageViolations(bad);
    for (const expected of [
      /^content has 2001/, /^username/, /^allowed_mentions/, /title has 257/, /description has 4097/,
      /footer has 2049/, /author has 257/, /26 fields/, /field 0 value has 1025/, /timestamp/, /^embeds total/,
    ]) {
      assert.ok(problems.some((p) => expected.test(p)), `${expected} in ${JSON.stringify(problems)}`);
    }
    assert.ok(discordMessageViolations({ allowed_mentions: { parse: [] } }).some((p) => /neither content nor embeds/.test(p)));
    assert.ok(discordMessageViolations({ allowed_mentions: { parse: [] }, embeds: [{ fields: [{ name: ' ', value: 'x' }] }] })
      .some((p) => /empty name or value/.test(p)));
  });

  describe('property: any incident text stays within every Discord limit', () => {
    const markdownUnit = fc.constantFrom('*', '_', '\\', '`', '@', '<', '>', ' ', '\n', '#', '-', 'a', '\uD83D\uDE00');
    // Short strings (fast-check's default size) and long ones (size 'max': up to maxLength).
    const text = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 3000 }),
      fc.string({ unit: 'binary', maxLength: 3000 }),
      fc.string({ unit: 'grapheme', maxLength: 3000, size: 'max' }),
      fc.string({ unit: 'grapheme-composite', maxLength: 1500, size: 'max' }),
      fc.string({ unit: 'binary', maxLength: 3000, size: 'max' }),
      fc.string({ unit: markdownUnit, maxLength: 3000, size: 'max' }),
    );
    const optionalText = fc.option(text, { nil: undefined });
    const count = fc.option(fc.oneof(fc.nat(), fc.integer(), fc.constant(Number.NaN)), { nil: undefined });
    const unavailable = fc.record({
      state: fc.constantFrom('not_found' as const, 'error' as const, 'not_looked_up' as const, 'deferred' as const),
      message: text,
    });
    const vt = fc.oneof(
      unavailable,
      fc.record({
        malicious: fc.nat(), suspicious: fc.nat(), harmless: fc.nat(), undetected: fc.nat(), timeout: fc.nat(),
        reputation: fc.option(fc.integer(), { nil: null }), country: fc.option(text, { nil: null }),
        asOwner: fc.option(text, { nil: null }), asn: fc.option(fc.nat(), { nil: null }), network: fc.option(text, { nil: null }),
      }),
    );
    const abuse = fc.oneof(
      unavailable,
      fc.record({
        score: fc.nat({ max: 100 }), totalReports: fc.nat(), numDistinctUsers: fc.nat(),
        usageType: fc.option(text, { nil: null }), isTor: fc.option(fc.boolean(), { nil: null }),
        isWhitelisted: fc.option(fc.boolean(), { nil: null }), countryCode: fc.option(text, { nil: null }),
        isp: fc.option(text, { nil: null }), domain: fc.option(text, { nil: null }),
      }),
    );
    const incidentArb: fc.Arbitrary<Incident> = fc.record({
      incidentId: text,
      time: fc.oneof(text, fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }).map((d) => d.toISOString())),
      srcIp: fc.oneof(text, fc.ipV4(), fc.ipV6()),
      verdict: fc.constantFrom<Verdict>('MALICIOUS', 'SUSPICIOUS', 'SAFE', 'UNKNOWN'),
      reason: text,
      detection: text,
      sid: text,
      rid: text,
      failureCount: count,
      users: fc.array(text, { maxLength: 30 }),
      attackType: optionalText,
      severity: optionalText,
      firstSeen: optionalText,
      lastSeen: optionalText,
      resultsLink: fc.option(fc.oneof(text, fc.webUrl()), { nil: undefined }),
      vt: fc.option(vt, { nil: undefined }),
      abuse: fc.option(abuse, { nil: undefined }),
      action: fc.record({
        kind: fc.constantFrom('blocked' as const, 'not_blocked' as const),
        reason: text,
        expires: optionalText,
      }),
      addressNote: optionalText,
    });
    const options = fc.record({ username: optionalText, content: optionalText, footerText: optionalText });

    it('generates the long strings it claims to', () => {
      const lengths = fc.sample(text, { numRuns: 200, seed: 7 }).map((t) => t.length);
      assert.ok(lengths.some((n) => n > 1024), `longest ${Math.max(...lengths)}`);
      assert.ok(lengths.some((n) => n < 20));
    });

    it('buildDiscordMessage', () => {
      fc.assert(
        fc.property(incidentArb, options, (inc, opts) => {
          assertWithinLimits(buildDiscordMessage(inc, opts), limits);
        }),
        { numRuns: 150 },
      );
    });

    it('buildDiscordUpdateMessage', () => {
      fc.assert(
        fc.property(incidentArb, fc.constantFrom<Verdict>('MALICIOUS', 'SUSPICIOUS', 'SAFE', 'UNKNOWN'), options, (inc, prev, opts) => {
          assertWithinLimits(buildDiscordUpdateMessage(inc, prev, opts), limits);
        }),
        { numRuns: 100 },
      );
    });

    it('the worst case (every text at its maximum, 30 long users) still fits', () => {
      const big = '\\'.repeat(3000);
      const worst: Incident = {
        ...incident,
        incidentId: big, reason: big, detection: big, sid: big, rid: big, attackType: big, severity: big,
        firstSeen: big, lastSeen: big, addressNote: big, srcIp: big,
        users: Array.from({ length: 30 }, () => big),
        vt: { ...capturedVirusTotal(), country: big, asOwner: big, network: big },
        action: { kind: 'blocked', reason: big, expires: big },
      };
      const m = buildDiscordMessage(worst, { footerText: big, content: big, username: 'SOAR-EDR' });
      assertWithinLimits(m, limits);
      const total = JSON.stringify(m.embeds[0]).length;
      assert.ok(total > 5000, `the embed uses the room it has (${total})`);
    });
  });
});
