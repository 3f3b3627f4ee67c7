/**
 * The Discord webhook message for an incident: one colour-coded embed.
 *
 * Discord answers 400 Bad Request to any message over a limit, and a rejected alert is a
 * lost alert, so every limit is enforced here by construction (see DISCORD_LIMITS): each
 * text is capped on its own, then the 6,000-character embed total is shared fairly among
 * the variable texts. Counting is in UTF-16 code units, never fewer than Discord's count.
 * Attacker text is escaped (`discordText`); links are only ones we built (`links.ts`);
 * `allowed_mentions: {parse: []}` makes sure nothing pings even if escaping missed something.
 */
import { fail, ok, Result } from '../result';
import {
  AbuseIpdbResult,
  countText,
  Incident,
  isLookupUnavailable,
  LOOKUP_STATE_LABELS,
  LookupUnavailable,
  Verdict,
  VirusTotalResult,
  yesNo,
} from './incident';
import { checkedHttpLink, intelLinks } from './links';
import { parseIpAddress } from '../address/ip-address';
import { capLength, discordText, escapeDiscordMarkdown, safeText } from './safe-text';

/** Discord's documented limits (message resource "Embed Limits", execute-webhook params). */
export const DISCORD_LIMITS = {
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footerText: 2048,
  authorName: 256,
  /** title + description + field names and values + footer text + author name, over all embeds. */
  embedTotal: 6000,
  embedsPerMessage: 10,
  content: 2000,
  /** Webhook name override. */
  username: 80,
} as const;

export const VERDICT_COLORS: Readonly<Record<Verdict, number>> = {
  MALICIOUS: 15158332,
  SUSPICIOUS: 15105570,
  SAFE: 3447003,
  UNKNOWN: 9807270,
};

export interface DiscordEmbedField {
  readonly name: string;
  readonly value: string;
  readonly inline: boolean;
}

export interface DiscordEmbed {
  readonly title: string;
  readonly description: string;
  /** Makes the title a link; always the VirusTotal page we built, when there is one. */
  readonly url?: string;
  readonly color: number;
  readonly fields: readonly DiscordEmbedField[];
  readonly footer: { readonly text: string };
  /** ISO 8601; omitted when the incident time does not parse (Discord rejects bad timestamps). */
  readonly timestamp?: string;
}

export interface DiscordMessage {
  readonly username?: string;
  readonly content?: string;
  readonly allowed_mentions: { readonly parse: readonly [] };
  readonly embeds: readonly [DiscordEmbed];
}

export interface DiscordMessageOptions {
  /** Webhook name override; left out when Discord would refuse it (see validateWebhookUsername). */
  readonly username?: string;
  /** Plain text above the embed; treated as untrusted, escaped and capped. */
  readonly content?: string;
  /** Replaces the default footer "SOAR-EDR · incident <id>". */
  readonly footerText?: string;
}

const NA = 'n/a';
const PRODUCT = 'SOAR-EDR';
const MAX_USER_CHARS = 100;
const MAX_MESSAGE_CHARS = 300;
const MAX_SHORT_CHARS = 200;

/**
 * Discord refuses webhook names that are empty, longer than 80 characters, contain
 * "clyde" or "discord" (any case), `@`, `#`, `:` or ```, or are "everyone"/"here".
 */
export function validateWebhookUsername(name: string): Result<string, 'invalid_username'> {
  const trimmed = safeText(name).trim();
  const problem =
    trimmed.length === 0 ? 'is empty'
    : trimmed.length > DISCORD_LIMITS.username ? `is longer than ${DISCORD_LIMITS.username} characters`
    : /clyde|discord/i.test(trimmed) ? 'contains "clyde" or "discord"'
    : /[@#:]|```/.test(trimmed) ? 'contains @, #, : or ```'
    : /^(everyone|here)$/i.test(trimmed) ? 'is a reserved name'
    : null;
  if (problem !== null) {
    return fail('invalid_username', `Discord would refuse the webhook name ${JSON.stringify(capLength(trimmed, 40))}: it ${problem}`);
  }
  return ok(trimmed);
}

/** A field while the embed is being fitted; `fixed` values (our links) are never cut. */
interface DraftField {
  name: string;
  value: string;
  inline: boolean;
  fixed: boolean;
}

interface Draft {
  title: string;
  description: string;
  url?: string;
  color: number;
  fields: DraftField[];
  footer: string;
  timestamp?: string;
}

const STRICT_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;

function parseIsoTime(text: string | null | undefined): Date | null {
  if (typeof text !== 'string' || !STRICT_ISO.test(text)) return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? new Date(ms) : null;
}

/** Our own ISO text plus a Discord timestamp that shows "5 minutes ago" in the reader's zone. */
function timeText(text: string | null | undefined): string {
  const date = parseIsoTime(text);
  if (date === null) return text ? discordText(text, MAX_SHORT_CHARS) : NA;
  return `${date.toISOString()} (<t:${Math.floor(date.getTime() / 1000)}:R>)`;
}

function optionalText(text: string | null | undefined, max: number): string {
  return text === null || text === undefined || text.trim() === '' ? NA : discordText(text, max);
}

function addressLabel(srcIp: string): string {
  const parsed = parseIpAddress(srcIp);
  return parsed.ok ? `\`${parsed.value.text}\`` : discordText(srcIp, 64);
}

function titleAddress(srcIp: string): string {
  const parsed = parseIpAddress(srcIp);
  return parsed.ok ? parsed.value.text : discordText(srcIp, 64);
}

function usersValue(users: readonly string[]): string {
  if (users.length === 0) return NA;
  const reserve = 24; // room for "… and NNNN more"
  let out = '';
  let listed = 0;
  for (const user of users) {
    const shown = user.trim() === '' ? '""' : discordText(user, MAX_USER_CHARS);
    const next = listed === 0 ? shown : `${out}, ${shown}`;
    if (next.length > DISCORD_LIMITS.fieldValue - reserve) break;
    out = next;
    listed += 1;
  }
  if (listed < users.length) out += `${listed === 0 ? '' : ', '}… and ${users.length - listed} more`;
  return out;
}

function unavailableText(result: LookupUnavailable): string {
  return `${LOOKUP_STATE_LABELS[result.state]}: ${optionalText(result.message, MAX_MESSAGE_CHARS)}`;
}

function virusTotalValue(vt: VirusTotalResult | undefined): string {
  if (vt === undefined) return LOOKUP_STATE_LABELS.not_looked_up;
  if (isLookupUnavailable(vt)) return unavailableText(vt);
  return [
    `**${countText(vt.malicious)}** malicious · **${countText(vt.suspicious)}** suspicious`,
    `${countText(vt.harmless)} harmless · ${countText(vt.undetected)} undetected · ${countText(vt.timeout)} timeout`,
    `reputation ${countText(vt.reputation)}`,
  ].join('\n');
}

function counted(value: number, noun: string): string {
  return `${countText(value)} ${noun}${value === 1 ? '' : 's'}`;
}

function abuseValue(abuse: AbuseIpdbResult | undefined): string {
  if (abuse === undefined) return LOOKUP_STATE_LABELS.not_looked_up;
  if (isLookupUnavailable(abuse)) return unavailableText(abuse);
  return [
    `score **${countText(abuse.score)}**/100`,
    `${counted(abuse.totalReports, 'report')} from ${counted(abuse.numDistinctUsers, 'reporter')}`,
    `usage: ${optionalText(abuse.usageType, MAX_SHORT_CHARS)}`,
    `Tor: ${yesNo(abuse.isTor)} · whitelisted: ${yesNo(abuse.isWhitelisted)}`,
  ].join('\n');
}

function networkValue(incident: Incident): string {
  const vt = incident.vt !== undefined && !isLookupUnavailable(incident.vt) ? incident.vt : undefined;
  const abuse = incident.abuse !== undefined && !isLookupUnavailable(incident.abuse) ? incident.abuse : undefined;
  const parts: string[] = [];
  const country = vt?.country ?? abuse?.countryCode;
  if (country) parts.push(discordText(country, MAX_SHORT_CHARS));
  const asn = typeof vt?.asn === 'number' && Number.isFinite(vt.asn) ? `AS${vt.asn}` : '';
  const owner = vt?.asOwner ?? abuse?.isp;
  const asText = [asn, owner ? discordText(owner, MAX_SHORT_CHARS) : ''].filter((p) => p !== '').join(' ');
  if (asText !== '') parts.push(asText);
  if (vt?.network) parts.push(discordText(vt.network, MAX_SHORT_CHARS));
  return parts.length > 0 ? parts.join(' · ') : NA;
}

function actionValue(incident: Incident): string {
  const { action } = incident;
  const head = action.kind === 'blocked'
    ? `**Blocked** (simulated)${action.expires ? ` until ${timeText(action.expires)}` : ''}`
    : '**Not blocked**';
  return `${head}\n${optionalText(action.reason, MAX_MESSAGE_CHARS)}`;
}

function detectionValue(incident: Incident): string {
  const lines = [optionalText(incident.detection, MAX_SHORT_CHARS)];
  const details: string[] = [];
  if (incident.severity) details.push(`severity: ${discordText(incident.severity, 64)}`);
  if (incident.attackType) details.push(`type: ${discordText(incident.attackType, 64)}`);
  if (details.length > 0) lines.push(details.join(' · '));
  return lines.join('\n');
}

function whenValue(incident: Incident): string {
  const lines = [timeText(incident.time)];
  if (incident.firstSeen) lines.push(`first seen ${timeText(incident.firstSeen)}`);
  if (incident.lastSeen) lines.push(`last seen ${timeText(incident.lastSeen)}`);
  return lines.join('\n');
}

interface IncidentLinks {
  readonly results: string | null;
  readonly virusTotal: string | null;
  readonly abuseIpdb: string | null;
}

function incidentLinks(incident: Incident): IncidentLinks {
  const address = parseIpAddress(incident.srcIp);
  const built = address.ok ? intelLinks(address.value) : null;
  const lookedUp = (result: VirusTotalResult | AbuseIpdbResult | undefined): boolean =>
    result !== undefined && !(isLookupUnavailable(result) && result.state === 'not_looked_up');
  return {
    results: checkedHttpLink(incident.resultsLink),
    virusTotal: built !== null && lookedUp(incident.vt) ? built.virusTotal : null,
    abuseIpdb: built !== null && lookedUp(incident.abuse) ? built.abuseIpdb : null,
  };
}

function linksField(links: IncidentLinks): DraftField | null {
  const parts: string[] = [];
  if (links.results !== null) parts.push(`[Splunk results](${links.results})`);
  if (links.virusTotal !== null) parts.push(`[VirusTotal](${links.virusTotal})`);
  if (links.abuseIpdb !== null) parts.push(`[AbuseIPDB](${links.abuseIpdb})`);
  return parts.length === 0 ? null : { name: 'Links', value: parts.join(' · '), inline: false, fixed: true };
}

function incidentField(incident: Incident): DraftField {
  const value = [
    `id ${optionalText(incident.incidentId, MAX_SHORT_CHARS)}`,
    `sid ${optionalText(incident.sid, MAX_SHORT_CHARS)} · rid ${optionalText(incident.rid, 64)}`,
  ].join('\n');
  return { name: 'Incident', value, inline: false, fixed: false };
}

function descriptionText(incident: Incident): string {
  const lines = [optionalText(incident.reason, DISCORD_LIMITS.description)];
  if (incident.addressNote) lines.push(`*${discordText(incident.addressNote, MAX_MESSAGE_CHARS)}*`);
  return lines.join('\n');
}

function footerText(incident: Incident, options: DiscordMessageOptions, suffix: string): string {
  if (options.footerText !== undefined) return safeText(options.footerText);
  return `${PRODUCT} · incident ${safeText(incident.incidentId)}${suffix}`;
}

function field(name: string, value: string, inline: boolean): DraftField {
  return { name, value, inline, fixed: false };
}

/** Trim like Discord does, cap at `max`, and never leave a required text empty. */
function fitted(text: string, max: number): string {
  const capped = capLength(text.trim(), max).trim();
  return capped === '' ? NA : capped;
}

/**
 * Share what the fixed texts leave of the embed total among the variable ones: short texts
 * keep everything, the long ones split the rest evenly (water-filling).
 */
function shareTotal(variable: string[], budget: number): string[] {
  const order = variable.map((text, index) => ({ text, index })).sort((a, b) => a.text.length - b.text.length);
  const result = variable.slice();
  let remaining = budget;
  order.forEach(({ text, index }, position) => {
    const share = Math.floor(remaining / (order.length - position));
    const kept = text.length <= share ? text : fitted(text, Math.max(share, 1));
    result[index] = kept;
    remaining -= kept.length;
  });
  return result;
}

function finish(draft: Draft, options: DiscordMessageOptions): DiscordMessage {
  const title = fitted(draft.title, DISCORD_LIMITS.title);
  const fields = draft.fields.slice(0, DISCORD_LIMITS.fields).map((f) => ({
    name: fitted(f.name, DISCORD_LIMITS.fieldName),
    value: fitted(f.value, DISCORD_LIMITS.fieldValue),
    inline: f.inline,
    fixed: f.fixed,
  }));
  const description = fitted(draft.description, DISCORD_LIMITS.description);
  const footer = fitted(draft.footer, DISCORD_LIMITS.footerText);

  const fixedChars = title.length + fields.reduce((n, f) => n + f.name.length + (f.fixed ? f.value.length : 0), 0);
  const variableIndexes = fields.flatMap((f, i) => (f.fixed ? [] : [i]));
  const variable = [description, footer, ...variableIndexes.map((i) => fields[i].value)];
  const [sharedDescription, sharedFooter, ...sharedValues] = shareTotal(variable, DISCORD_LIMITS.embedTotal - fixedChars);
  variableIndexes.forEach((fieldIndex, k) => {
    fields[fieldIndex].value = sharedValues[k];
  });

  const embed: DiscordEmbed = {
    title,
    description: sharedDescription,
    ...(draft.url !== undefined ? { url: draft.url } : {}),
    color: draft.color,
    fields: fields.map(({ name, value, inline }) => ({ name, value, inline })),
    footer: { text: sharedFooter },
    ...(draft.timestamp !== undefined ? { timestamp: draft.timestamp } : {}),
  };

  const username = options.username === undefined ? undefined : validateWebhookUsername(options.username);
  const content = options.content === undefined
    ? ''
    : capLength(escapeDiscordMarkdown(safeText(options.content)).trim(), DISCORD_LIMITS.content).trim();
  return {
    ...(username?.ok ? { username: username.value } : {}),
    ...(content !== '' ? { content } : {}),
    allowed_mentions: { parse: [] },
    embeds: [embed],
  };
}

function timestampOf(incident: Incident): string | undefined {
  return parseIsoTime(incident.time)?.toISOString();
}

/** The first notification for an incident. */
export function buildDiscordMessage(incident: Incident, options: DiscordMessageOptions = {}): DiscordMessage {
  const links = incidentLinks(incident);
  const users = incident.users.length;
  const fields: DraftField[] = [
    field('Attacker IP', addressLabel(incident.srcIp), true),
    field(users === 1 ? 'Target user' : `Target users (${users})`, usersValue(incident.users), users <= 1),
    field('Failures', countText(incident.failureCount), true),
    field('VirusTotal', virusTotalValue(incident.vt), true),
    field('AbuseIPDB', abuseValue(incident.abuse), true),
    field('Country / ASN', networkValue(incident), true),
    field('Action', actionValue(incident), false),
    field('Detection', detectionValue(incident), true),
    field('Time', whenValue(incident), true),
  ];
  const linkField = linksField(links);
  if (linkField !== null) fields.push(linkField);
  fields.push(incidentField(incident));
  const attack = incident.attackType ? discordText(incident.attackType, 64) : 'Brute force';
  return finish(
    {
      title: `${incident.verdict} · ${attack} from ${titleAddress(incident.srcIp)}`,
      description: descriptionText(incident),
      ...(links.virusTotal !== null ? { url: links.virusTotal } : {}),
      color: VERDICT_COLORS[incident.verdict],
      fields,
      footer: footerText(incident, options, ''),
      timestamp: timestampOf(incident),
    },
    options,
  );
}

/**
 * A follow-up once deferred enrichment has finished, e.g. UNKNOWN became MALICIOUS. Small:
 * the new verdict, the enrichment and the action, with the same limits and escaping.
 */
export function buildDiscordUpdateMessage(
  incident: Incident,
  previousVerdict: Verdict,
  options: DiscordMessageOptions = {},
): DiscordMessage {
  const links = incidentLinks(incident);
  const change = previousVerdict === incident.verdict
    ? `enrichment complete, still ${incident.verdict}`
    : `${previousVerdict} → ${incident.verdict}`;
  const fields: DraftField[] = [
    field('VirusTotal', virusTotalValue(incident.vt), true),
    field('AbuseIPDB', abuseValue(incident.abuse), true),
    field('Country / ASN', networkValue(incident), true),
    field('Action', actionValue(incident), false),
  ];
  const linkField = linksField(links);
  if (linkField !== null) fields.push(linkField);
  fields.push(incidentField(incident));
  return finish(
    {
      title: `Update · ${titleAddress(incident.srcIp)}: ${change}`,
      description: descriptionText(incident),
      ...(links.virusTotal !== null ? { url: links.virusTotal } : {}),
      color: VERDICT_COLORS[incident.verdict],
      fields,
      footer: footerText(incident, options, ' · update'),
      timestamp: timestampOf(incident),
    },
    options,
  );
}

/** The shape `discordMessageViolations` can check: any webhook payload, ours or not. */
export interface WebhookPayload {
  readonly username?: string;
  readonly content?: string;
  readonly allowed_mentions?: { readonly parse?: readonly string[] };
  readonly embeds?: readonly {
    readonly title?: string;
    readonly description?: string;
    readonly fields?: readonly { readonly name: string; readonly value: string }[];
    readonly footer?: { readonly text: string };
    readonly author?: { readonly name: string };
    readonly timestamp?: string;
  }[];
}

/**
 * Every way `payload` breaks Discord's limits or our no-mention rule, as sentences; empty
 * when it may be sent. Delivery can check a stored (outbox) payload with it before posting.
 */
export function discordMessageViolations(payload: WebhookPayload): string[] {
  const problems: string[] = [];
  const size = (text: string | undefined): number => (text === undefined ? 0 : text.trim().length);
  const over = (what: string, text: string | undefined, limit: number): void => {
    if (size(text) > limit) problems.push(`${what} has ${size(text)} characters (limit ${limit})`);
  };
  over('content', payload.content, DISCORD_LIMITS.content);
  if (payload.username !== undefined && !validateWebhookUsername(payload.username).ok) {
    problems.push('username would be refused');
  }
  if (payload.allowed_mentions?.parse === undefined || payload.allowed_mentions.parse.length !== 0) {
    problems.push('allowed_mentions.parse must be an empty list');
  }
  const embeds = payload.embeds ?? [];
  if (embeds.length > DISCORD_LIMITS.embedsPerMessage) {
    problems.push(`${embeds.length} embeds (limit ${DISCORD_LIMITS.embedsPerMessage})`);
  }
  if (embeds.length === 0 && size(payload.content) === 0) problems.push('message has neither content nor embeds');
  let total = 0;
  embeds.forEach((embed, e) => {
    const at = `embed ${e}`;
    over(`${at} title`, embed.title, DISCORD_LIMITS.title);
    over(`${at} description`, embed.description, DISCORD_LIMITS.description);
    over(`${at} footer`, embed.footer?.text, DISCORD_LIMITS.footerText);
    over(`${at} author`, embed.author?.name, DISCORD_LIMITS.authorName);
    total += size(embed.title) + size(embed.description) + size(embed.footer?.text) + size(embed.author?.name);
    const fields = embed.fields ?? [];
    if (fields.length > DISCORD_LIMITS.fields) problems.push(`${at} has ${fields.length} fields (limit ${DISCORD_LIMITS.fields})`);
    fields.forEach((f, i) => {
      over(`${at} field ${i} name`, f.name, DISCORD_LIMITS.fieldName);
      over(`${at} field ${i} value`, f.value, DISCORD_LIMITS.fieldValue);
      if (size(f.name) === 0 || size(f.value) === 0) problems.push(`${at} field ${i} has an empty name or value`);
      total += size(f.name) + size(f.value);
    });
    if (embed.timestamp !== undefined && parseIsoTime(embed.timestamp) === null) {
      problems.push(`${at} timestamp is not ISO 8601`);
    }
  });
  if (total > DISCORD_LIMITS.embedTotal) problems.push(`embeds total ${total} characters (limit ${DISCORD_LIMITS.embedTotal})`);
  return problems;
}
