/**
 * One incident change as one line of JSON, for Splunk to index (sourcetype soar_edr:incident,
 * index soar_incidents; see default/props.conf). Pure: the caller passes the moment and the
 * typed data; the writer is incident-event-file.ts.
 *
 * `time` comes first, so props.conf's TIME_PREFIX (`^\{"time":"`) finds it at a fixed place.
 * Attacker-chosen text (users, a detection's fields) goes through the same neutralisation and
 * length cap as an incidents.csv cell: control and bidi characters become visible `<U+XXXX>`
 * markers, each value is cut at 4,096 characters with a marker naming its length. JSON
 * escaping then keeps quotes and backslashes inside the value, so a line stays one line and
 * one object whatever a user name holds.
 *
 * CIM Alerts: app, description, id, severity, signature, src, type are set (tag `alert` comes
 * from eventtypes.conf / tags.conf). `dest` and `vendor_account` are left out: the alert row
 * does not say which host was attacked, and there is no vendor account.
 */
import type { BlockEntry } from './blocklist';
import type { AbuseIpdbResult, VirusTotalResult } from './incident';
import { isLookupUnavailable } from './incident';
import { capCell, MAX_CSV_CELL_CHARS, safeText } from './safe-text';

export const INCIDENT_EVENT_NAMES = ['recorded', 'enriched', 'verdict_changed', 'notified', 'blocked', 'unblocked', 'expired', 'dead_lettered'] as const;
export type IncidentEventName = (typeof INCIDENT_EVENT_NAMES)[number];

/** The longest text value of an event, as for a CSV cell. */
export const MAX_EVENT_VALUE_CHARS = MAX_CSV_CELL_CHARS;
/** The users tried, at most this many characters in all (the CSV's users cell holds as much). */
export const MAX_EVENT_USERS_CHARS = MAX_CSV_CELL_CHARS;

/** What every event may say about its incident; a block's events know only the address. */
export interface IncidentEventSubject {
  readonly incidentId?: string | null;
  readonly srcIp?: string | null;
  readonly verdict?: string | null;
  readonly reason?: string | null;
  readonly detection?: string | null;
  readonly sid?: string | null;
  readonly rid?: string | null;
}

/** What a change carries besides its subject. */
export interface IncidentEventDetails {
  readonly previousVerdict?: string;
  readonly vt?: VirusTotalResult;
  readonly abuse?: AbuseIpdbResult;
  readonly failureCount?: number | null;
  readonly users?: readonly string[];
  readonly attackType?: string | null;
  /** The detection row's own severity (CIM `severity` is derived from the verdict). */
  readonly detectionSeverity?: string | null;
  readonly firstSeen?: string | null;
  readonly lastSeen?: string | null;
  readonly action?: string;
  readonly actionReason?: string;
  /** ISO time a simulated block lapses (lapsed, for expired and unblocked). */
  readonly blockExpires?: string;
  readonly blockCount?: number;
  readonly notificationKind?: string;
  readonly discordMessageId?: string | null;
  readonly deadLetterReason?: string;
  readonly deadLetterFile?: string;
}

export interface IncidentEvent {
  /** Epoch ms of the change. */
  readonly timeMs: number;
  readonly event: IncidentEventName;
  readonly subject: IncidentEventSubject;
  readonly details?: IncidentEventDetails;
}

/** CIM Alerts severity from the verdict: the app's judgement of the address. */
const SEVERITY: Readonly<Record<string, string>> = { MALICIOUS: 'high', SUSPICIOUS: 'medium', SAFE: 'informational', UNKNOWN: 'unknown' };

function clean(value: string): string {
  return capCell(safeText(value), MAX_EVENT_VALUE_CHARS);
}

function finite(n: number | null | undefined): number | undefined {
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

function usersOf(users: readonly string[]): string[] {
  const out: string[] = [];
  let chars = 0;
  for (const u of users) {
    const v = clean(u);
    if (chars + v.length > MAX_EVENT_USERS_CHARS) break;
    out.push(v);
    chars += v.length;
  }
  return out;
}

function lookupFields(prefix: 'vt' | 'abuse', r: VirusTotalResult | AbuseIpdbResult | undefined, into: Record<string, unknown>): void {
  if (r === undefined) return;
  if (isLookupUnavailable(r)) {
    into[`${prefix}_state`] = r.state;
    into[`${prefix}_message`] = r.message;
    return;
  }
  into[`${prefix}_state`] = 'ok';
  if ('malicious' in r) {
    Object.assign(into, { vt_malicious: r.malicious, vt_suspicious: r.suspicious, vt_harmless: r.harmless, vt_undetected: r.undetected });
    into.vt_reputation = finite(r.reputation);
    into.country = r.country ?? undefined;
    into.asn = finite(r.asn);
    into.as_owner = r.asOwner ?? undefined;
  } else {
    Object.assign(into, { abuse_score: r.score, abuse_total_reports: r.totalReports });
    into.abuse_country = r.countryCode ?? undefined;
    into.isp = r.isp ?? undefined;
  }
}

/** The event as one line of JSON, ending in "\n". */
export function incidentEventLine(e: IncidentEvent): string {
  const s = e.subject;
  const d = e.details ?? {};
  const verdict = s.verdict ?? undefined;
  const raw: Record<string, unknown> = {
    time: new Date(e.timeMs).toISOString(),
    event: e.event,
    incident_id: s.incidentId ?? undefined,
    src_ip: s.srcIp ?? undefined,
    verdict,
    reason: s.reason ?? undefined,
    detection: s.detection ?? undefined,
    sid: s.sid ?? undefined,
    rid: s.rid ?? undefined,
    // CIM Alerts
    app: 'soar_edr',
    type: 'alert',
    id: s.incidentId ?? undefined,
    src: s.srcIp ?? undefined,
    signature: s.detection ?? undefined,
    severity: verdict !== undefined ? (SEVERITY[verdict] ?? 'unknown') : undefined,
    description: [e.event.replace('_', ' '), s.srcIp, verdict, s.reason].filter((x) => x).join(': '),
    previous_verdict: d.previousVerdict,
  };
  lookupFields('vt', d.vt, raw);
  lookupFields('abuse', d.abuse, raw);
  Object.assign(raw, {
    failure_count: finite(d.failureCount),
    users: d.users && d.users.length > 0 ? usersOf(d.users) : undefined,
    user_count: d.users && d.users.length > 0 ? d.users.length : undefined,
    attack_type: d.attackType ?? undefined,
    detection_severity: d.detectionSeverity ?? undefined,
    first_seen: d.firstSeen ?? undefined,
    last_seen: d.lastSeen ?? undefined,
    action: d.action,
    action_reason: d.actionReason,
    block_expires: d.blockExpires,
    block_count: finite(d.blockCount),
    notification_kind: d.notificationKind,
    discord_message_id: d.discordMessageId ?? undefined,
    dead_letter_reason: d.deadLetterReason,
    dead_letter_file: d.deadLetterFile,
  });
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    out[k] = typeof v === 'string' ? clean(v) : v;
  }
  return JSON.stringify(out) + '\n';
}

/** An `expired` or `unblocked` event: a block knows its address, verdict and reason, not its incidents. */
export function blockLapsedEvent(event: 'expired' | 'unblocked', e: BlockEntry, nowMs: number): IncidentEvent {
  return {
    timeMs: nowMs,
    event,
    subject: { srcIp: e.address.text, verdict: e.verdict, reason: e.reason },
    details: { action: event, blockExpires: new Date(e.expiresMs).toISOString(), blockCount: e.count },
  };
}
