/**
 * The app's own configuration, soar_edr.conf: what the admin allows on this host (the shared
 * request quotas and the block durations), as opposed to an alert's params, which may only
 * lower it. Splunk's layering applies: default/soar_edr.conf (shipped) then
 * local/soar_edr.conf (the admin's, written by hand or by Splunk Web through REST), key by
 * key, local winning.
 *
 * The action finds the app from its own bundle (<app>/bin/…), the command line from
 * $SPLUNK_HOME/etc/apps/soar_edr; outside Splunk it reads <data directory>/soar_edr.conf when
 * there is one, else the shipped defaults apply. Reading is two small files, done once per run and only when a limit is needed.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_HOST_LIMITS, HOST_LIMITED, HostLimits, parseBoundedCount, parseBoundedDuration } from '../pipeline/settings';
import type { Failure } from '../result';

export const APP_NAME = 'soar_edr';
export const APP_CONF = 'soar_edr.conf';

/** Stanza → key → value. Maps, not objects: stanza and key names are the file's. */
export type ConfText = Map<string, Map<string, string>>;

/**
 * Splunk's .conf syntax as far as this file needs it: `[stanza]`, `key = value`, `#` comment
 * lines, a trailing backslash continuing a value on the next line. Keys before any stanza
 * belong to [default]. Lines that are none of these are skipped (splunkd ignores them too).
 */
export function parseConfText(text: string): ConfText {
  const out: ConfText = new Map();
  let stanza = 'default';
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)}\n${lines[++i]!}`;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const header = /^\[(.*)\]$/.exec(trimmed);
    if (header) {
      stanza = header[1]!.trim();
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const keys = out.get(stanza) ?? new Map<string, string>();
    keys.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
    out.set(stanza, keys);
  }
  return out;
}

/** One layer of soar_edr.conf as read: where it came from (for messages), and its text. */
export interface ConfLayer {
  readonly file: string;
  readonly text: string;
}

export type AppConfProblemKind = 'invalid_setting';

export interface HostLimitsRead {
  readonly limits: HostLimits;
  /** Bad values in the files, each replaced by the shipped default. */
  readonly problems: readonly Failure<AppConfProblemKind>[];
  /** The files that were read (none when there is no soar_edr.conf). */
  readonly files: readonly string[];
}

/**
 * The host's limits from the layers in order (default, then local): for each key the last
 * layer that sets a non-empty value wins. A bad value is reported, naming the file and key,
 * and the shipped default is used instead; so is a maximum block shorter than the base block.
 */
export function hostLimitsFromConf(layers: readonly ConfLayer[]): HostLimitsRead {
  const problems: Failure<AppConfProblemKind>[] = [];
  const chosen = new Map<string, { value: string; file: string }>();
  for (const layer of layers) {
    const conf = parseConfText(layer.text);
    for (const spec of HOST_LIMITED) {
      const value = conf.get(spec.stanza)?.get(spec.param);
      if (value !== undefined && value !== '') chosen.set(spec.param, { value, file: layer.file });
    }
  }
  const limits: Record<keyof HostLimits, number> = { ...DEFAULT_HOST_LIMITS };
  for (const spec of HOST_LIMITED) {
    const c = chosen.get(spec.param);
    if (c === undefined) continue;
    const r = spec.duration ? parseBoundedDuration(c.value, spec.min, spec.max) : parseBoundedCount(c.value, spec.min, spec.max);
    if (r.ok) limits[spec.field] = r.value;
    else {
      const fallback = DEFAULT_HOST_LIMITS[spec.field];
      problems.push({ kind: 'invalid_setting', message: `${c.file} [${spec.stanza}] ${spec.param}: ${r.error.message}; using ${fallback}${spec.duration ? 's' : ''}` });
    }
  }
  if (limits.blockMaxSeconds < limits.blockSeconds) {
    problems.push({
      kind: 'invalid_setting',
      message: `${APP_CONF} [blocking] block_max_duration (${limits.blockMaxSeconds}s) is shorter than block_duration (${limits.blockSeconds}s); using ${limits.blockSeconds}s for both`,
    });
    limits.blockMaxSeconds = limits.blockSeconds;
  }
  return { limits, problems, files: layers.map((l) => l.file) };
}

/**
 * The app's folder: the bundle's (`bundleDir` is <app>/bin when the action runs from the
 * installed app), else $SPLUNK_HOME/etc/apps/soar_edr, else none (outside Splunk).
 */
export function appDirFor(env: Readonly<Record<string, string | undefined>>, bundleDir?: string): string | undefined {
  if (bundleDir !== undefined && path.basename(bundleDir) === 'bin') {
    const app = path.dirname(bundleDir);
    if (path.basename(app) === APP_NAME) return app;
  }
  const home = env.SPLUNK_HOME?.trim();
  return home ? path.join(path.resolve(home), 'etc', 'apps', APP_NAME) : undefined;
}

/**
 * The files soar_edr.conf is read from, in order: default/ then local/ of `appDir`; outside
 * Splunk (no app folder) `<data directory>/soar_edr.conf`, because the limits belong with the
 * quota state and blocklist they govern, which live in that directory.
 */
export function appConfFiles(appDir: string | undefined, dataDir?: string): string[] {
  if (appDir !== undefined) return ['default', 'local'].map((dir) => path.join(appDir, dir, APP_CONF));
  return dataDir !== undefined ? [path.join(dataDir, APP_CONF)] : [];
}

/** The layers of soar_edr.conf that exist (appConfFiles). */
export function readAppConfLayers(appDir: string | undefined, dataDir?: string): { layers: ConfLayer[]; problems: Failure<AppConfProblemKind>[] } {
  const layers: ConfLayer[] = [];
  const problems: Failure<AppConfProblemKind>[] = [];
  for (const file of appConfFiles(appDir, dataDir)) {
    try {
      // A .conf of a few hundred bytes; a huge one is not ours (cap what is read).
      const text = readFileSync(file, 'utf8');
      layers.push({ file, text: text.length > 256 * 1024 ? text.slice(0, 256 * 1024) : text });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        problems.push({ kind: 'invalid_setting', message: `${file} cannot be read (${code ?? (e as Error).message}); the shipped limits apply to what it would set` });
      }
    }
  }
  return { layers, problems };
}

/** The host's limits for the app in `appDir`, or outside Splunk from `dataDir` (the shell: reads the files). */
export function readHostLimits(appDir: string | undefined, dataDir?: string): HostLimitsRead {
  return readAppConf(appDir, dataDir).hostLimits;
}

/** Where the alert action keeps its shared state ([state] store; README/soar_edr.conf.spec). */
export type StateStoreSetting = 'auto' | 'kvstore' | 'file';
const STATE_STORES: readonly StateStoreSetting[] = ['auto', 'kvstore', 'file'];

/** [state] store from the layers (last non-empty wins); a bad value is reported and auto is used. */
export function stateStoreFromConf(layers: readonly ConfLayer[]): { store: StateStoreSetting; problems: Failure<AppConfProblemKind>[] } {
  let chosen: { value: string; file: string } | undefined;
  for (const layer of layers) {
    const value = parseConfText(layer.text).get('state')?.get('store');
    if (value !== undefined && value !== '') chosen = { value, file: layer.file };
  }
  if (chosen === undefined) return { store: 'auto', problems: [] };
  const store = STATE_STORES.find((s) => s === chosen.value.toLowerCase());
  if (store !== undefined) return { store, problems: [] };
  return { store: 'auto', problems: [{ kind: 'invalid_setting', message: `${chosen.file} [state] store: ${JSON.stringify(chosen.value.slice(0, 40))} is not auto, kvstore or file; using auto` }] };
}

/** Everything the alert action reads from soar_edr.conf, from one read of its layers. */
export interface AppConfRead {
  readonly hostLimits: HostLimitsRead;
  readonly stateStore: StateStoreSetting;
  /** Bad [state] values, each replaced by auto. */
  readonly stateProblems: readonly Failure<AppConfProblemKind>[];
}

/** soar_edr.conf of the app in `appDir` (or outside Splunk `dataDir`), read once (the shell: reads the files). */
export function readAppConf(appDir: string | undefined, dataDir?: string): AppConfRead {
  const read = readAppConfLayers(appDir, dataDir);
  const limits = hostLimitsFromConf(read.layers);
  const state = stateStoreFromConf(read.layers);
  return { hostLimits: { ...limits, problems: [...read.problems, ...limits.problems] }, stateStore: state.store, stateProblems: state.problems };
}
