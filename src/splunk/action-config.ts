/**
 * The action's params (alert_actions.conf `param.*`, overridden per alert by
 * savedsearches.conf `action.soar_response.param.*`) arrive as strings in the payload's
 * `configuration`. This turns them into typed settings and reports every bad value
 * without stopping the run: a typo in one param must not lose an incident.
 */
import type { Failure } from '../result';
import { DEFAULT_ADDRESS_FIELDS } from './alert-address';
import { fieldMap, ownValue } from './field-map';
import { LogLevel, parseLogLevel } from './log';
import { secretsInParams } from './secrets';

export interface ActionConfig {
  /** Row fields searched, in order, for the attacker address. */
  readonly addressFields: readonly string[];
  readonly logLevel: LogLevel;
  /**
   * What the run is: `alert` (the default) handles the result rows as incidents;
   * `maintenance` (the app's scheduled search, `| makeresults | sendalert soar_response
   * param.mode="maintenance"`) ignores the rows and does the follow-up work once per minute.
   */
  readonly mode: RunMode;
  /** Every param as received (secrets removed), for the pipeline's own settings. */
  readonly params: Readonly<Record<string, string>>;
}

export type RunMode = 'alert' | 'maintenance';
const RUN_MODES: readonly RunMode[] = ['alert', 'maintenance'];

export type ConfigProblemKind = 'invalid_param' | 'secret_in_param';

/**
 * What Splunk accepts as a field name (Knowledge Manager Manual, "Proper field name
 * syntax"): letters, digits, `.`, `:` and `_`, not starting with a digit or `_` (names
 * starting with `_` are Splunk's internal fields). A name outside it cannot be a field of
 * an ordinary search result; a search that outputs one can rename it (`| rename "x-y" AS x_y`).
 */
export const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_.:]*$/;
/** Longer names are not field names anyone types; the cap keeps the ERROR line short too. */
export const MAX_FIELD_NAME_CHARS = 128;

/** Whether `name` can be a Splunk result field name (see FIELD_NAME). */
export function isFieldName(name: string): boolean {
  return name.length <= MAX_FIELD_NAME_CHARS && FIELD_NAME.test(name);
}

function shownName(name: string): string {
  return JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name);
}

export function parseActionConfig(configuration: Readonly<Record<string, string>>): {
  config: ActionConfig;
  problems: Failure<ConfigProblemKind>[];
} {
  const problems: Failure<ConfigProblemKind>[] = [];
  const secrets = secretsInParams(configuration);
  problems.push(...secrets.map((s) => s.problem));
  const refused = new Set(secrets.map((s) => s.param));
  // Param names are data (a saved search can set any action.soar_response.param.<name>).
  const params = fieldMap<string>();
  for (const [k, v] of Object.entries(configuration)) {
    if (!refused.has(k)) params[k] = v;
  }

  let addressFields = DEFAULT_ADDRESS_FIELDS;
  const rawFields = ownValue(params, 'address_fields')?.trim();
  if (rawFields) {
    const names = rawFields.split(/[\s,]+/).filter(Boolean);
    const bad = names.filter((n) => !isFieldName(n));
    if (bad.length > 0 || names.length === 0) {
      problems.push({
        kind: 'invalid_param',
        message:
          `param address_fields has invalid field name(s) ${bad.slice(0, 5).map(shownName).join(', ')}${bad.length > 5 ? ` and ${bad.length - 5} more` : ''} ` +
          `(a Splunk field name is letters, digits, . : and _, starting with a letter, at most ${MAX_FIELD_NAME_CHARS} characters); using ${DEFAULT_ADDRESS_FIELDS.join(',')}`,
      });
    } else {
      addressFields = names;
    }
  }

  let logLevel: LogLevel = 'INFO';
  const rawLevel = ownValue(params, 'log_level');
  if (rawLevel?.trim()) {
    const parsed = parseLogLevel(rawLevel);
    if (parsed) logLevel = parsed;
    else problems.push({ kind: 'invalid_param', message: `param log_level ${JSON.stringify(rawLevel.slice(0, 40))} is not one of DEBUG, INFO, WARN, ERROR; using INFO` });
  }

  // Empty means an alert: detections never set it. An unknown value is reported and the run
  // handles its rows as an alert, so a typo on a detection loses no incident.
  let mode: RunMode = 'alert';
  const rawMode = ownValue(params, 'mode')?.trim();
  if (rawMode) {
    const known = RUN_MODES.find((m) => m === rawMode.toLowerCase());
    if (known) mode = known;
    else {
      problems.push({
        kind: 'invalid_param',
        message:
          `param mode ${shownName(rawMode)} is not one of maintenance, alert or empty; handled as an alert run. ` +
          'Only the app\'s saved search "SOAR-EDR - Maintenance" sets it (param.mode="maintenance"); leave it empty on detections',
      });
    }
  }

  return { config: { addressFields, logLevel, mode, params }, problems };
}
