/**
 * The record stage's pure parts: the incident draft from a result row and what the earlier
 * stages decided, and the incident events that tell Splunk about it. Recording itself goes
 * through the shared state (state.incidents.record): exactly one incident per alert result,
 * with its TXT report and incidents.csv row on this host.
 */
import * as path from 'node:path';
import type { IncidentEvent, IncidentEventSubject } from '../respond/incident-event';
import type { Incident, ResponseAction } from '../respond/incident';
import type { IncidentDraft } from '../respond/incident-store';
import type { AlertPayload } from '../splunk/payload';
import type { ResultFields } from '../splunk/results-file';
import type { DataLayout } from '../store/data-dir';
import type { Verdict } from '../intel/verdict';
import { abuseResult, Enriched, vtResult } from './decide';
import { rowText, rowTime, rowValues } from './row-fields';

/** What every event of an incident says about it. */
export function eventSubject(i: Incident): IncidentEventSubject {
  return { incidentId: i.incidentId, srcIp: i.srcIp, verdict: i.verdict, reason: i.reason, detection: i.detection, sid: i.sid, rid: i.rid };
}

export interface DraftInput {
  readonly payload: Pick<AlertPayload, 'searchName' | 'sid' | 'resultsLink'>;
  readonly row: ResultFields;
  readonly rid: string;
  /** The address as the gate gave it (canonical text). */
  readonly srcIp: string;
  readonly isPublic: boolean;
  readonly gateReason: string | undefined;
  readonly verdict: Verdict;
  readonly reason: string;
  readonly enriched: Enriched;
  readonly action: ResponseAction;
  readonly nowMs: number;
}

/** The incident of one result row, before the store gives it an id. */
export function buildDraft(i: DraftInput): IncidentDraft {
  return {
    time: new Date(i.nowMs).toISOString(),
    srcIp: i.srcIp,
    verdict: i.verdict,
    reason: i.reason,
    detection: i.payload.searchName || 'ad-hoc search',
    sid: i.payload.sid,
    rid: i.rid,
    failureCount: Number.parseInt(rowText(i.row, 'failure_count', 'count') ?? '', 10) || null,
    users: rowValues(i.row, 'users', 'user', 'attempted_users', 'TargetUserName'),
    attackType: rowText(i.row, 'attack_type') ?? null,
    severity: rowText(i.row, 'severity') ?? null,
    firstSeen: rowTime(i.row, 'first_seen', 'firstTime'),
    lastSeen: rowTime(i.row, 'last_seen', 'lastTime'),
    resultsLink: i.payload.resultsLink || null,
    vt: vtResult(i.enriched.vt, i.enriched.vtNote, i.enriched.vtNoKey),
    abuse: abuseResult(i.enriched.abuse, i.enriched.abuseNote),
    action: i.action,
    addressNote: i.isPublic ? null : `${i.gateReason ?? 'not public'}: not sent to third parties`,
  };
}

/** The `recorded` event: everything the incident says, for searches and charts. */
export function recordedEvent(incident: Incident, timeMs: number): IncidentEvent {
  return {
    timeMs,
    event: 'recorded',
    subject: eventSubject(incident),
    details: {
      vt: incident.vt,
      abuse: incident.abuse,
      failureCount: incident.failureCount,
      users: incident.users,
      attackType: incident.attackType,
      detectionSeverity: incident.severity,
      firstSeen: incident.firstSeen,
      lastSeen: incident.lastSeen,
      action: incident.action.kind,
      actionReason: incident.action.reason,
      blockExpires: incident.action.expires,
    },
  };
}

/** Where an incident waiting for enrichment keeps what the later update needs to re-render it. */
export function snapshotFile(layout: DataLayout, incidentId: string): string {
  return path.join(layout.ledger, 'incident-data', `${incidentId}.json`);
}
