/**
 * Lines to run the app's extractions over: generator output with the attempt each line came
 * from (ground truth), and the real corpus (sshd syslog files as they are; the Windows 4625
 * exports converted to the generator's win4625 key=value shape, field for field).
 */
import { readFileSync } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import type { AddressFamily } from '../../src/generator/addresses';
import { FORMATS, type FormatName } from '../../src/generator/formats';
import { createRng } from '../../src/generator/prng';
import { SCENARIOS, type AuthAttempt, type ScenarioName } from '../../src/generator/scenarios';
import { corpusPath } from '../support/paths';

export interface GeneratedAttempt {
  readonly attempt: AuthAttempt;
  readonly lines: readonly string[];
}

/**
 * The scenario's attempts rendered one by one, as createLineSource does, so each line is known
 * to belong to its attempt. Stops after `maxAttempts` or once scenario time passes `untilMs`.
 */
export function generateAttempts(spec: {
  scenario: ScenarioName;
  format: FormatName;
  family: AddressFamily;
  seed: string;
  startMs: number;
  maxAttempts: number;
  untilMs?: number;
}): GeneratedAttempt[] {
  const format = FORMATS[spec.format];
  const iterator = SCENARIOS[spec.scenario].attempts({ rng: createRng(spec.seed), startMs: spec.startMs, family: spec.family, accounts: format.accounts });
  const renderer = format.createRenderer(format.defaultHostname);
  const out: GeneratedAttempt[] = [];
  while (out.length < spec.maxAttempts) {
    const step = iterator.next();
    if (step.done === true) break;
    if (spec.untilMs !== undefined && step.value.timeMs > spec.untilMs) break;
    const lines: string[] = [];
    renderer.render(step.value, lines);
    out.push({ attempt: step.value, lines });
  }
  return out;
}

export function corpusLines(...parts: string[]): string[] {
  const text = readFileSync(corpusPath(...parts), 'utf8');
  // Splunk's LINE_BREAKER ([\r\n]+) ends events at CR and LF alike and keeps neither
  return text.split(/[\r\n]+/).filter((l) => l !== '');
}

/** The win4625 line the generator writes, from EventData names (missing ones left out). */
export function winKvLine(time: string, eventId: string, data: Readonly<Record<string, string | undefined>>): string {
  const order = ['ComputerName', 'TargetUserName', 'TargetDomainName', 'Status', 'SubStatus', 'LogonType', 'LogonProcessName', 'AuthenticationPackageName', 'WorkstationName', 'IpAddress', 'IpPort'];
  const pairs = order.filter((k) => data[k] !== undefined && data[k] !== '').map((k) => `${k}=${data[k]}`);
  return `${time} LogName=Security EventCode=${eventId} ${pairs.join(' ')}`;
}

export interface WindowsCsvRow {
  readonly TimeCreated: string;
  readonly Computer: string;
  readonly TargetUserName: string;
  readonly TargetDomainName: string;
  readonly Status: string;
  readonly SubStatus: string;
  readonly LogonType: string;
  readonly LogonProcessName: string;
  readonly AuthenticationPackageName: string;
  readonly WorkstationName: string;
  readonly IpAddress: string;
  readonly IpPort: string;
}

/** deepbluecli_..._4625_all.csv (every 4625 of the EVTX) as win4625 lines. */
export function windowsCsvLines(): { rows: WindowsCsvRow[]; lines: string[] } {
  const rows = parseCsv(readFileSync(corpusPath('windows', 'deepbluecli_smb-password-guessing-security_4625_all.csv')), { columns: true }) as WindowsCsvRow[];
  const lines = rows.map((r) => winKvLine(r.TimeCreated, '4625', { ...r, ComputerName: r.Computer }));
  return { rows, lines };
}

/** Event XML (evtxexport output or Microsoft's page with its "- " markers) as win4625 lines. */
export function windowsXmlLines(file: string): string[] {
  const text = readFileSync(corpusPath('windows', file), 'utf8');
  return [...text.matchAll(/<Event[\s>][\s\S]*?<\/Event>/g)].map((m) => {
    const xml = m[0];
    const data: Record<string, string> = {};
    for (const d of xml.matchAll(/<Data Name="([^"]+)">([^<]*)<\/Data>/g)) data[d[1]!] = d[2]!;
    const time = /<TimeCreated SystemTime="([^"]+)"/.exec(xml)![1]!;
    const eventId = /<EventID>(\d+)<\/EventID>/.exec(xml)![1]!;
    data.ComputerName = /<Computer>([^<]+)<\/Computer>/.exec(xml)![1]!;
    return winKvLine(time, eventId, data);
  });
}

/** The winlogbeat (ECS) 4625 as a win4625 line: ECS names mapped back to EventData names. */
export function windowsEcsLine(): string {
  const [event] = JSON.parse(readFileSync(corpusPath('windows', 'elastic_beats_security-windows2012r2-logon_4625_event.json'), 'utf8')) as {
    '@timestamp': string;
    event: { code: number };
    host: { name: string };
    user: { name: string };
    source: { ip: string; port?: number };
    winlog: { computer_name: string; event_data: Record<string, string>; logon?: { type?: string } };
  }[];
  if (event === undefined) throw new Error('the winlogbeat file holds no event');
  const ed = event.winlog.event_data;
  return winKvLine(event['@timestamp'], String(event.event.code), {
    ...ed,
    ComputerName: event.winlog.computer_name,
    TargetUserName: ed.TargetUserName ?? event.user.name,
    IpAddress: ed.IpAddress ?? event.source.ip,
    IpPort: ed.IpPort ?? (event.source.port === undefined ? undefined : String(event.source.port)),
  });
}
