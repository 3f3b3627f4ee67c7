/**
 * The action's params (alert_actions.conf `param.*`, overridden per alert by
 * savedsearches.conf `action.soar_response.param.*`) arrive as strings in the payload's
 * `configuration`. This turns them into typed settings and reports every bad value
 * without stopping the run: a typo in one param must not lose an incident.
 */
import type { Failure } from '../result';
import { DEFAULT_ADDRESS_FIELDS } from './alert-address';
import { LogLevel, parseLogLevel } from './log';
import { secretsInParams } from './secrets';

export interface ActionConfig {
  /** Row fields searched, in order, for the attacker address. */
  readonly addressFields: readonly string[];
  readonly logLevel: LogLevel;
  /** Every param as received (secrets removed), for the pipeline's own settings. */
  readonly params: Readonly<Record<string, string>>;
}

export type ConfigProblemKind = 'invalid_param' | 'secret_in_param';

const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;

export function parseActionConfig(configuration: Readonly<Record<string, string>>): {
  config: ActionConfig;
  problems: Failure<ConfigProblemKind>[];
} {
  const problems: Failure<ConfigProblemKind>[] = [];
  const secrets = secretsInParams(configuration);
  problems.push(...secrets.map((s) => s.problem));
  const refused = new Set(secrets.map((s) => s.param));
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(configuration)) {
    if (!refused.has(k)) params[k] = v;
  }

  let addressFields = DEFAULT_ADDRESS_FIELDS;
  const rawFields = params.address_fields?.trim();
  if (rawFields) {
    const names = rawFields.split(/[\s,]+/).filter(Boolean);
    const bad = names.filter((n) => !FIELD_NAME.test(n));
    if (bad.length > 0 || names.length === 0) {
      problems.push({ kind: 'invalid_param', message: `param address_fields has invalid field name(s) ${bad.map((b) => JSON.stringify(b)).join(', ')}; using ${DEFAULT_ADDRESS_FIELDS.join(',')}` });
    } else {
      addressFields = names;
    }
  }

  let logLevel: LogLevel = 'INFO';
  if (params.log_level?.trim()) {
    const parsed = parseLogLevel(params.log_level);
    if (parsed) logLevel = parsed;
    else problems.push({ kind: 'invalid_param', message: `param log_level ${JSON.stringify(params.log_level.slice(0, 40))} is not one of DEBUG, INFO, WARN, ERROR; using INFO` });
  }

  return { config: { addressFields, logLevel, params }, problems };
}
