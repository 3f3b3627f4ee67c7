/**
 * The app's detection configuration as the tests read it: the default/*.conf files from the
 * repository, the search-time pipeline built from them, and the saved searches with their
 * macros expanded.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ConfStanza, parseConf } from '../support/conf-file';
import { REPO_ROOT } from '../support/paths';
import { Expansion, expandMacros, MacroDef, macroDefs, MacroProblem } from './macros';
import { buildSearchTime, SearchTimeConfig } from './search-time';

export const SOURCETYPE = 'suspicious_traffic';
export const INDEX = 'security_logs';

/** The fields the soar_response pipeline reads from a result row (src/pipeline.ts handleRow). */
export const PIPELINE_FIELDS = ['src_ip', 'failure_count', 'users', 'attack_type', 'severity', 'first_seen', 'last_seen'] as const;

export function defaultConfPath(file: string): string {
  return path.join(REPO_ROOT, 'default', file);
}

export function readConf(file: string): ConfStanza[] {
  return parseConf(readFileSync(defaultConfPath(file), 'utf8'));
}

export function stanzaEntries(s: ConfStanza): Map<string, string> {
  return new Map(s.entries.map((e) => [e.key, e.value]));
}

export function loadSearchTime(): SearchTimeConfig {
  return buildSearchTime(SOURCETYPE, {
    props: readConf('props.conf'),
    transforms: readConf('transforms.conf'),
    eventtypes: readConf('eventtypes.conf'),
    tags: readConf('tags.conf'),
  });
}

export interface Detection {
  readonly name: string;
  readonly settings: Map<string, string>;
  readonly search: string;
  readonly expansion: Expansion;
}

export function loadMacros(): { defs: Map<string, MacroDef>; problems: MacroProblem[] } {
  return macroDefs(readConf('macros.conf'));
}

/** The saved search that runs the action in maintenance mode every minute: not a detection. */
export const MAINTENANCE_SEARCH = 'SOAR-EDR - Maintenance';

/** Every saved search but the maintenance one. */
export function loadDetections(): Detection[] {
  return loadSavedSearches().filter((d) => d.name !== MAINTENANCE_SEARCH);
}

export function loadSavedSearches(): Detection[] {
  const { defs } = loadMacros();
  return readConf('savedsearches.conf').map((s) => {
    const settings = stanzaEntries(s);
    const search = settings.get('search') ?? '';
    return { name: s.name, settings, search, expansion: expandMacros(search, defs) };
  });
}

/** The lookups transforms.conf defines over a collection or file, by name, with their fields_list. */
export function loadLookups(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of readConf('transforms.conf')) {
    const fieldsList = stanzaEntries(s).get('fields_list');
    if (fieldsList !== undefined) out.set(s.name, fieldsList.split(',').map((f) => f.trim()).filter(Boolean));
  }
  return out;
}
