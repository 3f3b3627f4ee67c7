/**
 * A splunkd emulator for the alert action: installs the built .tgz the way an admin does
 * (unpacked into $SPLUNK_HOME/etc/apps/), resolves the action's configuration the way
 * splunkd merges alert_actions.conf param defaults with savedsearches.conf overrides, writes
 * a dispatch directory with a gzip CSV results file (per-result or digest layout, __mv_
 * columns included), builds the JSON payload (the shape of a real one, corpus/splunk/
 * yaleman_TA-pushover_stdin_payload.json), finds the script by the stanza name and runs it
 * with --execute, the payload on stdin and maxtime enforced.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { stanzaMap } from './conf-file';
import { packagePath } from './paths';
import { LogLine, parseLogLines } from './splunk-log';

export const APP = 'soar_edr';
export const ACTION = 'soar_response';

export interface InstalledApp {
  readonly splunkHome: string;
  readonly appDir: string;
  /** default/alert_actions.conf [soar_response] as installed. */
  readonly actionStanza: ReadonlyMap<string, string>;
}

/**
 * Where the installed app keeps its shared state ([state] store in soar_edr.conf). The shipped
 * default is `auto` (the KV store at the alert's server_uri); tests written for the data
 * directory's files install with `file` (the default here), as an admin with one search head
 * may configure it, and the KV store tests with `auto` or `kvstore` against a splunkd stub that
 * serves the KV store. The setting goes into the installed copy's default/soar_edr.conf, so a
 * test's own local/soar_edr.conf (raised quotas) does not undo it.
 */
export interface InstallOptions {
  readonly stateStore?: 'auto' | 'kvstore' | 'file';
}

export async function installApp(tgz = packagePath(), options: InstallOptions = {}): Promise<InstalledApp> {
  const splunkHome = mkdtempSync(path.join(tmpdir(), 'soar-splunk-'));
  const apps = path.join(splunkHome, 'etc', 'apps');
  mkdirSync(apps, { recursive: true });
  await tar.x({ file: tgz, cwd: apps, preservePaths: false });
  const appDir = path.join(apps, APP);
  const store = options.stateStore ?? 'file';
  if (store !== 'auto') {
    const conf = path.join(appDir, 'default', 'soar_edr.conf');
    writeFileSync(conf, readFileSync(conf, 'utf8').replace(/^store = auto$/m, `store = ${store}`));
  }
  const conf = stanzaMap(readFileSync(path.join(appDir, 'default', 'alert_actions.conf'), 'utf8'));
  const stanza = conf.get(ACTION);
  if (!stanza) throw new Error(`installed app has no [${ACTION}] stanza`);
  return { splunkHome, appDir, actionStanza: stanza };
}

/**
 * `configuration` as splunkd builds it: every param.* default of the stanza, overridden by the
 * saved search's action.<name>.param.* keys, prefix removed, values as strings.
 */
export function actionConfiguration(app: InstalledApp, savedSearch: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of app.actionStanza) if (k.startsWith('param.')) out[k.slice(6)] = v;
  const prefix = `action.${ACTION}.param.`;
  for (const [k, v] of Object.entries(savedSearch)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}

export type Row = Record<string, string | readonly string[]>;

function csvCell(value: string): string {
  return /[",\r\n]/.test(value) || value !== value.trim() ? `"${value.replace(/"/g, '""')}"` : value;
}

/** splunkd's multivalue encoding (Splunk_SA_CIM encode_mv): $v1$;$v2$, `$` doubled. */
export function encodeMultivalue(values: readonly string[]): string {
  return values.map((v) => `$${v.replace(/\$/g, '$$$$')}$`).join(';');
}

/** Results CSV as splunkd writes it: internal fields, the row's fields, and __mv_ columns. */
export function resultsCsv(rows: readonly Row[]): string {
  const names: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!names.includes(k)) names.push(k);
  const columns = ['_time', ...names.filter((n) => n !== '_time')];
  const header = [...columns, ...columns.map((c) => `__mv_${c}`)];
  const lines = [header.map(csvCell).join(',')];
  rows.forEach((r, i) => {
    const plain = columns.map((c) => {
      const v = c === '_time' && r._time === undefined ? String(1_764_000_000 + i) : r[c];
      return v === undefined ? '' : typeof v === 'string' ? v : v.join('\n');
    });
    const mv = columns.map((c) => {
      const v = r[c];
      return v !== undefined && typeof v !== 'string' ? encodeMultivalue(v) : '';
    });
    lines.push([...plain, ...mv].map(csvCell).join(','));
  });
  return lines.join('\n') + '\n';
}

export interface Dispatch {
  readonly sid: string;
  readonly dir: string;
  /** Per-result mode: one file per row; digest mode: one file. */
  readonly resultsFiles: string[];
}

export function writeDispatch(app: InstalledApp, rows: readonly Row[], mode: 'per_result' | 'digest', sid = `scheduler__admin__search__RMD5${Date.now().toString(16)}_at_1764000000_${Math.floor(Math.random() * 1000)}`): Dispatch {
  const dir = path.join(app.splunkHome, 'var', 'run', 'splunk', 'dispatch', sid);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'info.csv'), '_sid,_search\n');
  if (mode === 'digest') {
    const file = path.join(dir, 'results.csv.gz');
    writeFileSync(file, gzipSync(resultsCsv(rows)));
    return { sid, dir, resultsFiles: [file] };
  }
  const pra = path.join(dir, 'per_result_alert');
  mkdirSync(pra, { recursive: true });
  const files = rows.map((r, i) => {
    const file = path.join(pra, `tmp_${i}.csv.gz`);
    writeFileSync(file, gzipSync(resultsCsv([r])));
    return file;
  });
  return { sid, dir, resultsFiles: files };
}

export interface PayloadOptions {
  readonly sid: string;
  readonly resultsFile: string;
  readonly configuration: Record<string, string>;
  readonly result?: Row;
  readonly searchName?: string;
  readonly serverUri?: string;
  readonly sessionKey?: string;
  readonly resultId?: string;
}

export function buildPayload(o: PayloadOptions): Record<string, unknown> {
  const searchName = o.searchName ?? 'SOAR-EDR - SSH Brute Force';
  const payload: Record<string, unknown> = {
    app: 'search',
    owner: 'admin',
    results_file: o.resultsFile,
    results_link: `http://splunk-test:8000/app/search/@go?sid=${o.sid}`,
    search_uri: `/servicesNS/admin/search/saved/searches/${encodeURIComponent(searchName)}`,
    server_host: 'splunk-test',
    server_uri: o.serverUri ?? 'https://127.0.0.1:8089',
    session_key: o.sessionKey ?? 'aYAUg6hQDWJyV_UuSlXWEsgwUhFE5UasbI1vzUSiaV8DZAu7aah49lrZog',
    sid: o.sid,
    search_name: searchName,
    configuration: o.configuration,
    result: o.result ?? {},
  };
  if (o.resultId !== undefined) payload.result_id = o.resultId;
  return payload;
}

/** How splunkd finds the action's executable: alert.execute.cmd, else bin/<stanza>.<ext>. */
export function findActionScript(app: InstalledApp): string {
  const cmd = app.actionStanza.get('alert.execute.cmd');
  if (cmd) return path.join(app.appDir, 'bin', cmd);
  for (const dir of ['linux_x86_64/bin', 'bin']) {
    for (const ext of ['.sh', '.py', '.js', '']) {
      const p = path.join(app.appDir, dir, `${ACTION}${ext}`);
      if (existsSync(p)) {
        if ((statSync(p).mode & 0o111) === 0) throw new Error(`Execution of alert action script failed: ${p} is not executable`);
        return p;
      }
    }
  }
  throw new Error(`No executable was found for alert action ${ACTION}`);
}

export function maxtimeMs(app: InstalledApp): number {
  const m = /^(\d+)([smhd]?)$/.exec(app.actionStanza.get('maxtime') ?? '5m');
  if (!m) throw new Error('unparseable maxtime');
  return Number(m[1]) * { '': 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

export interface ActionRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly lines: LogLine[];
  readonly ms: number;
}

export interface RunOptions {
  readonly args?: readonly string[];
  readonly env?: Record<string, string | undefined>;
  /** Raw stdin instead of a payload object. */
  readonly stdin?: string | Buffer;
}

export function runAction(app: InstalledApp, payload: Record<string, unknown> | undefined, options: RunOptions = {}): Promise<ActionRun> {
  const script = findActionScript(app);
  const env: Record<string, string> = {};
  // splunkd's environment for scripts: SPLUNK_HOME and a PATH; nothing from the test runner's shell
  // that could leak secrets into the action.
  for (const [k, v] of Object.entries({ PATH: process.env.PATH, HOME: process.env.HOME, SPLUNK_HOME: app.splunkHome, ...options.env })) {
    if (v !== undefined) env[k] = v;
  }
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(script, options.args ?? ['--execute'], { env, cwd: path.join(app.appDir, 'bin'), stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), maxtimeMs(app));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8');
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr, lines: parseLogLines(stderr), ms: Date.now() - started });
    });
    child.stdin.on('error', () => undefined); // the action may exit before reading everything
    child.stdin.end(options.stdin ?? (payload === undefined ? '' : JSON.stringify(payload)));
  });
}
