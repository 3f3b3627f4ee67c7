/**
 * What one run of the pipeline holds while its stages work: the run's context and outside
 * world, its settings, its shared state, its incident events, and what it already did (a
 * digest names an address in many rows: one block, one notification, one lookup per run).
 * incident-pipeline.ts makes it; the stage files (enrich, decide, record, block, notify,
 * follow-up) take it.
 */
import type { Verdict } from '../intel/verdict';
import type { ResponseAction } from '../respond/incident';
import type { IncidentEventLog } from '../respond/incident-event-file';
import type { WebhookTarget } from '../respond/webhook-target';
import type { RunContext } from '../splunk/alert-run';
import type { ResolvedSecrets } from '../splunk/secrets';
import type { SharedState } from '../state/shared-state';
import type { Enriched } from './decide';
import type { PipelineDeps } from './deps';
import type { PipelineSettings } from './settings';

export interface PipelineRun {
  readonly context: RunContext;
  readonly deps: PipelineDeps;
  /** The params' settings; the quotas and block durations in it are the shipped limits (see limited()). */
  readonly settings: PipelineSettings;
  /** The settings within the host's limits (soar_edr.conf read once, on first use). */
  limited(): PipelineSettings;
  /** The shared state, the deferred-enrichment queue included (state.queue). */
  readonly state: SharedState;
  /** The run's incident events (events/incidents.json), written once per row or batch. */
  readonly events: IncidentEventLog;
  readonly deadlineMs: number;
  /** Both providers for one public address, once per run however many rows name it. */
  enrich(address: string, secrets: ResolvedSecrets, waitUntilMs: number, fresh?: boolean): Promise<Enriched>;
  webhookTarget(secrets: ResolvedSecrets): { target?: WebhookTarget; problem?: string };
  /** Simulated blocks already decided in this run, by address. */
  readonly blockedThisRun: Map<string, ResponseAction>;
  /** Verdicts already claimed for notification in this run, by address. */
  readonly claimedThisRun: Map<string, Verdict>;
  /** Addresses whose block this run already wrote as an event. */
  readonly blockEvented: Set<string>;
}
