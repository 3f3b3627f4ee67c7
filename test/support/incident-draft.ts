import type { ResponseAction } from '../../src/respond/incident';
import type { IncidentDraft } from '../../src/respond/incident-store';

/** An incident as the pipeline drafts it, for store tests: MALICIOUS, VirusTotal not asked. */
export function incidentDraft(sid: string, rid: string, srcIp: string, timeMs: number, action: ResponseAction = { kind: 'not_blocked', reason: 'test' }): IncidentDraft {
  return {
    time: new Date(timeMs).toISOString(),
    srcIp,
    verdict: 'MALICIOUS',
    reason: 'VirusTotal: 5 engines',
    detection: 'SSH Brute Force',
    sid,
    rid,
    users: ['root'],
    vt: { state: 'not_looked_up', message: 'test' },
    action,
  } as IncidentDraft;
}
