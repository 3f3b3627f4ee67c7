/**
 * The incident pipeline for one alert row: the only place that knows the order of
 * address gate → cache/quota → enrichment → verdict → record → block → notify.
 *
 * Foundation stage: the contract layer hands every accepted row here with everything the
 * pipeline will need; this stage records the hand-off in the log and claims nothing more.
 */
import type { ActionConfig } from './splunk/action-config';
import type { AlertAddress } from './splunk/alert-address';
import type { Logger } from './splunk/log';
import type { ResultFields } from './splunk/results-file';
import type { ResolvedSecrets } from './splunk/secrets';
import type { Failure } from './result';

export interface PipelineInput {
  /** The result row as Splunk wrote it (multivalue fields as arrays). */
  readonly row: ResultFields;
  readonly attacker: AlertAddress;
  readonly searchName: string;
  readonly sid: string;
  readonly rid: string;
  readonly config: ActionConfig;
  readonly resultsLink: string;
  readonly app: string;
  readonly owner: string;
}

export interface PipelineDeps {
  readonly log: Logger;
  /** Resolved at most once per run, on first use. */
  readonly secrets: () => Promise<ResolvedSecrets>;
  readonly now: () => Date;
}

export type PipelineOutcome =
  | { readonly status: 'handed_off' }
  | { readonly status: 'failed'; readonly error: Failure };

function fieldText(row: ResultFields, name: string): string | undefined {
  const v = row[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(',');
}

export async function handleAlertRow(input: PipelineInput, deps: PipelineDeps): Promise<PipelineOutcome> {
  const secrets = await deps.secrets();
  deps.log.info('Alert row handed to the incident pipeline', {
    action_status: 'success',
    src_ip: input.attacker.address,
    address_field: input.attacker.field,
    family: `ipv${input.attacker.family}`,
    failure_count: fieldText(input.row, 'failure_count'),
    users: fieldText(input.row, 'users') ?? fieldText(input.row, 'user'),
    attack_type: fieldText(input.row, 'attack_type'),
    severity: fieldText(input.row, 'severity'),
    fields: Object.keys(input.row).length,
    results_link: input.resultsLink,
    secrets_configured: Object.keys(secrets.values).sort().join(',') || 'none',
    received_at: deps.now().toISOString(),
  });
  return { status: 'handed_off' };
}
