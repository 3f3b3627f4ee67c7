import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { Readable } from 'node:stream';
import { parse as parseCsvSync } from 'csv-parse/sync';
import { parseStringPromise } from 'xml2js';
import { readWinlog, detectWinlogFormat, WinlogFormat } from '../../src/analysis/winlog-read';
import {
  WinLogAnalyzer,
  WinLogonEvent,
  WinLogSummary,
  fillFromRenderedMessage,
  rawFromEventXml,
  winEventFromJson,
  winEventFromXml,
} from '../../src/analysis/winlog';
import { bruteForceOptions, BruteForceOptions, WINDOWS_BRUTE_FORCE_OPTIONS } from '../../src/analysis/bruteforce';
import { corpusPath, corpusText } from './corpus';

const CSV = 'deepbluecli_smb-password-guessing-security_4625_all.csv';
const XML = 'deepbluecli_smb-password-guessing-security_4625_first100.xml';
const MSDOCS = 'microsoft_docs_event-4625_example.xml.txt';
const BEATS = 'elastic_beats_security-windows2012r2-logon_4625_event.json';

function options(given: Partial<BruteForceOptions> = {}): BruteForceOptions {
  const o = bruteForceOptions(given);
  assert.ok(o.ok);
  return o.value;
}

async function read(input: Readable, format: WinlogFormat | 'auto' = 'auto') {
  const events: WinLogonEvent[] = [];
  const result = await readWinlog(input, format, (e) => events.push(e));
  return { events, result };
}

function fromText(text: string | Buffer): Readable {
  return Readable.from([Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8')]);
}

function summarize(events: readonly WinLogonEvent[], given: Partial<BruteForceOptions> = {}): WinLogSummary {
  const a = new WinLogAnalyzer(options(given));
  for (const e of events) a.add(e);
  return a.summarize();
}

interface CsvRow {
  TimeCreated: string;
  EventRecordID: string;
  TargetUserName: string;
  Status: string;
  SubStatus: string;
  LogonType: string;
  WorkstationName: string;
  IpAddress: string;
  IpPort: string;
}

const csvRows = (): CsvRow[] => parseCsvSync(corpusText('windows', CSV), { columns: true }) as CsvRow[];

function tally<T>(items: readonly T[]): Map<T, number> {
  const m = new Map<T, number>();
  for (const i of items) m.set(i, (m.get(i) ?? 0) + 1);
  return m;
}

describe('analysis/winlog: DeepBlueCLI SMB password guessing, CSV (all 3,561 events)', () => {
  let events: WinLogonEvent[];
  let s: WinLogSummary;
  const rows = csvRows();

  before(async () => {
    const r = await read(fs.createReadStream(corpusPath('windows', CSV)));
    assert.ok(r.result.ok, r.result.ok ? '' : r.result.error.message);
    assert.deepEqual(
      { ...r.result.value },
      { bytes: fs.statSync(corpusPath('windows', CSV)).size, gzip: false, format: 'csv', records: 3561, logonEvents: 3561, malformed: 0, firstProblem: null },
    );
    events = r.events;
    s = summarize(events, { windowSeconds: 60, threshold: 10 });
  });

  it('finds 3,561 failures from 192.168.198.149, flagged private', () => {
    assert.equal(s.counts.failures, 3561);
    assert.equal(s.failures.totalFailures, 3561);
    assert.equal(s.failures.distinctSources, 1);
    const src = s.failures.topSources[0]!;
    assert.deepEqual([src.address, src.failures, src.scope, src.isPublic], ['192.168.198.149', 3561, 'private', false]);
  });

  it('maps Status and SubStatus to readable reasons, with the corpus counts', () => {
    assert.deepEqual(
      s.byStatus.map((c) => [c.code, c.reason, c.count]),
      [
        ['0xc000006d', 'bad user name or password', 3559],
        ['0xc000006e', 'account restriction', 2],
      ],
    );
    assert.deepEqual(
      s.byReason.map((c) => [c.code, c.reason, c.count]),
      [
        ['0xc000006a', 'bad password', 3558],
        ['0xc0000072', 'account disabled', 2],
        ['0xc0000064', 'no such user', 1],
      ],
    );
    assert.deepEqual(s.byLogonType, [{ logonType: 3, name: 'Network', count: 3561 }]);
  });

  it('reads every row as written (user, port, workstation, time)', () => {
    assert.equal(events.length, rows.length);
    events.forEach((e, i) => {
      const r = rows[i]!;
      assert.equal(e.user, r.TargetUserName);
      assert.equal(e.address, r.IpAddress);
      assert.equal(e.port, Number(r.IpPort));
      assert.equal(e.workstation, r.WorkstationName);
      assert.equal(e.logonProcess, 'NtLmSsp '); // trailing space kept
      assert.equal(e.timeMs, Date.parse(r.TimeCreated));
    });
    const users = tally(rows.map((r) => r.TargetUserName));
    assert.deepEqual(
      s.failures.topUsers.map((u) => [u.user, u.failures]),
      [...users].sort((a, b) => b[1] - a[1]),
    );
    assert.equal(s.failures.firstMs, Date.parse(rows[0]!.TimeCreated));
    assert.equal(s.failures.lastMs, Date.parse(rows[rows.length - 1]!.TimeCreated));
  });

  it('computes the busiest 60-second window like a two-pointer count over the CSV times', () => {
    const times = rows.map((r) => Date.parse(r.TimeCreated)).sort((a, b) => a - b);
    let best = 0;
    for (let lo = 0, hi = 0; hi < times.length; hi++) {
      while (times[hi]! - times[lo]! >= 60_000) lo++;
      best = Math.max(best, hi - lo + 1);
    }
    assert.equal(s.failures.bruteForce.length, 1);
    assert.equal(s.failures.bruteForce[0]!.maxInWindow, best);
    assert.equal(s.failures.bruteForce[0]!.maxWindowAccount, null, 'counted per source');
    assert.ok(best > 1000);
  });

  it("counts per address and account as the Windows detection does (stats by src_ip, user): the busiest account's window", () => {
    const perAccount = new Map<string, number[]>();
    for (const r of rows) perAccount.set(r.TargetUserName!, [...(perAccount.get(r.TargetUserName!) ?? []), Date.parse(r.TimeCreated)]);
    const windowMs = WINDOWS_BRUTE_FORCE_OPTIONS.windowSeconds * 1000;
    let best = 0;
    let bestAccount = '';
    for (const [account, unsorted] of perAccount) {
      const times = unsorted.sort((a, b) => a - b);
      for (let lo = 0, hi = 0; hi < times.length; hi++) {
        while (times[hi]! - times[lo]! >= windowMs) lo++;
        if (hi - lo + 1 > best) [best, bestAccount] = [hi - lo + 1, account];
      }
    }
    const w = summarize(events, WINDOWS_BRUTE_FORCE_OPTIONS);
    assert.equal(w.failures.perAccount, true);
    assert.deepEqual(
      w.failures.bruteForce.map((b) => [b.address, b.maxInWindow, b.maxWindowAccount]),
      [['192.168.198.149', best, bestAccount]],
    );
    assert.equal(bestAccount, 'Administrator');
    assert.ok(perAccount.get('JcDfcZTc')!.length <= WINDOWS_BRUTE_FORCE_OPTIONS.threshold, 'the other account alone would not fire');
  });

  it('reads a Splunk-style export of the same events (EventCode, Source_Network_Address, multivalue Account_Name)', async () => {
    const header = '_time,EventCode,Account_Name,Source_Network_Address,Source_Port,Logon_Type,Status,Sub_Status,ComputerName';
    const lines = rows.map((r) =>
      [r.TimeCreated, '4625', `"-\n${r.TargetUserName}"`, r.IpAddress, r.IpPort, r.LogonType, r.Status, r.SubStatus, 'DESKTOP-M5SN04R'].join(','),
    );
    const r = await read(fromText([header, ...lines].join('\r\n')));
    assert.ok(r.result.ok);
    assert.equal(r.result.value.logonEvents, 3561);
    assert.deepEqual(
      r.events.map((e) => [e.user, e.address, e.status, e.subStatus, e.timeMs]),
      events.map((e) => [e.user, e.address, e.status, e.subStatus, e.timeMs]),
    );
  });

  it('reads the gzip-compressed CSV', async () => {
    const r = await read(fromText(zlib.gzipSync(fs.readFileSync(corpusPath('windows', CSV)))));
    assert.ok(r.result.ok);
    assert.equal(r.result.value.gzip, true);
    assert.equal(r.events.length, 3561);
  });
});

describe('analysis/winlog: DeepBlueCLI Event XML (first 100)', () => {
  const xml = corpusText('windows', XML);
  let events: WinLogonEvent[];

  before(async () => {
    const r = await read(fs.createReadStream(corpusPath('windows', XML), { highWaterMark: 1000 }));
    assert.ok(r.result.ok);
    assert.equal(r.result.value.format, 'xml');
    assert.equal(r.result.value.records, 100);
    events = r.events;
  });

  it('finds 100 failures from 192.168.198.149 with the corpus SubStatus split', () => {
    const s = summarize(events);
    assert.equal(s.counts.failures, 100);
    assert.deepEqual(s.failures.topSources.map((r) => [r.address, r.failures, r.scope]), [['192.168.198.149', 100, 'private']]);
    assert.deepEqual(s.failures.topUsers.map((u) => [u.user, u.failures]), [['Administrator', 99], ['JcDfcZTc', 1]]);
    assert.deepEqual(s.byReason.map((c) => [c.code, c.count]), [['0xc000006a', 97], ['0xc0000072', 2], ['0xc0000064', 1]]);
    assert.ok(events.every((e) => e.computer === 'DESKTOP-M5SN04R' && e.logonType === 3 && e.authPackage === 'NTLM'));
  });

  it('agrees with the CSV export of the same EVTX, event by event', () => {
    const rows = csvRows().slice(0, 100);
    events.forEach((e, i) => {
      const r = rows[i]!;
      assert.deepEqual(
        [e.user, e.address, e.port, e.status, e.subStatus, e.workstation, e.timeMs],
        [r.TargetUserName, r.IpAddress, Number(r.IpPort), r.Status, r.SubStatus, r.WorkstationName, Date.parse(r.TimeCreated)],
      );
    });
  });

  it('extracts the same Data values as a real XML parser (xml2js)', async () => {
    const doc = (await parseStringPromise(xml)) as {
      Events: { Event: { EventData: { Data: { _?: string; $: { Name: string } }[] }[] }[] };
    };
    const parsed = doc.Events.Event;
    assert.equal(parsed.length, 100);
    const chunks = xml.split(/(?=<Event xmlns)/).slice(1);
    parsed.forEach((ev, i) => {
      const want: Record<string, string> = {};
      for (const d of ev.EventData[0]!.Data) want[d.$.Name] = d._ ?? '';
      const ours = rawFromEventXml(chunks[i]!)!;
      for (const [k, v] of Object.entries(ours.data)) assert.equal(v, want[k], `${k} of event ${i}`);
      assert.equal(Object.keys(ours.data).length, 11);
    });
  });

  it('reads single-quoted attributes, namespace prefixes and a root-less event sequence alike', async () => {
    const single = xml.replace(/Name="([^"]*)"/g, "Name='$1'").replace(/SystemTime="([^"]*)"/g, "SystemTime='$1'");
    const prefixed = xml
      .replace(/<Event xmlns="/g, '<ev:Event xmlns:ev="')
      .replace(/<(\/?)(Event|EventID|EventData|Data|TimeCreated|Computer|System)([\s>/])/g, '<$1ev:$2$3');
    const rootless = xml.replace(/^[\s\S]*?<Events>\s*/, '').replace(/<\/Events>\s*$/, '');
    for (const variant of [single, prefixed, rootless]) {
      assert.notEqual(variant, xml);
      const r = await read(fromText(variant));
      assert.ok(r.result.ok);
      assert.deepEqual(r.events, events);
    }
  });

  it('finds every element when tags are cut across tiny chunks', async () => {
    for (const size of [1, 5, 13]) {
      const bytes = Buffer.from(xml, 'utf8');
      const parts: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
      const r = await read(Readable.from(parts));
      assert.ok(r.result.ok);
      assert.deepEqual(r.events, events, `chunk size ${size}`);
    }
  });

  it('reports a success after failures when the source later logs on (4624)', async () => {
    const last = xml.lastIndexOf('<EventID>4625</EventID>');
    const withSuccess = xml.slice(0, last) + '<EventID>4624</EventID>' + xml.slice(last + '<EventID>4625</EventID>'.length);
    const r = await read(fromText(withSuccess));
    assert.ok(r.result.ok);
    const s = summarize(r.events, { failuresBeforeSuccess: 50 });
    assert.equal(s.counts.failures, 99);
    assert.equal(s.counts.successes, 1);
    const hit = s.failures.successAfterFailures[0]!;
    assert.deepEqual([hit.address, hit.failuresBefore, hit.isPublic, hit.method], ['192.168.198.149', 99, false, 'Network']);
  });
});

describe("analysis/winlog: Microsoft's documented 4625 example", () => {
  const text = corpusText('windows', MSDOCS);

  it('reads the page copy with its "- " markers, and the cleaned XML the same way', async () => {
    const raw = winEventFromXml(text);
    const cleaned = text.replace(/^- /gm, '');
    await parseStringPromise(cleaned); // well-formed once the markers are gone
    assert.deepEqual(winEventFromXml(cleaned), raw);
    const r = await read(fromText(text));
    assert.ok(r.result.ok);
    assert.equal(r.result.value.format, 'xml');
    assert.deepEqual(r.events, [raw]);
  });

  it('gives the locked-out reason from Status when SubStatus is 0x0, and flags 127.0.0.1 as loopback', () => {
    const e = winEventFromXml(text)!;
    assert.deepEqual(
      [e.user, e.domain, e.address, e.logonType, e.logonTypeName, e.status, e.subStatus, e.reason, e.computer],
      ['Auditor', 'CONTOSO', '127.0.0.1', 2, 'Interactive', '0xc0000234', '0x0', 'account locked out', 'DC01.contoso.local'],
    );
    assert.equal(e.timeMs, Date.parse('2015-09-08T22:54:54.962Z'));
    const s = summarize([e]);
    assert.deepEqual([s.failures.topSources[0]!.scope, s.failures.topSources[0]!.isPublic], ['loopback', false]);
  });
});

describe('analysis/winlog: winlogbeat JSON', () => {
  const text = corpusText('windows', BEATS);
  const arr = JSON.parse(text) as Record<string, unknown>[];

  it('maps event.code / winlog.event_id, source.ip, user.name and event_data', async () => {
    const r = await read(fromText(text));
    assert.ok(r.result.ok);
    assert.equal(r.result.value.format, 'json');
    assert.equal(r.events.length, 1);
    const e = r.events[0]!;
    assert.deepEqual(
      [e.eventId, e.user, e.domain, e.address, e.port, e.logonType, e.status, e.subStatus, e.reason, e.computer, e.logonProcess],
      [4625, 'bosch', 'VAGRANT-2012-R2', '::1', 0, 2, '0xc000006d', '0xc0000064', 'no such user', 'vagrant-2012-r2', 'seclogo'],
    );
    assert.equal(e.timeMs, Date.parse('2019-03-29T21:45:35.177Z'));
    const s = summarize(r.events);
    assert.deepEqual([s.failures.topSources[0]!.address, s.failures.topSources[0]!.scope, s.failures.topSources[0]!.isPublic], ['::1', 'loopback', false]);
  });

  it('reads a single object, one object per line, and concatenated objects the same way', async () => {
    const want = winEventFromJson(arr[0]);
    assert.ok(want);
    const forms = [
      JSON.stringify(arr[0], null, 2),
      `${JSON.stringify(arr[0])}\n${JSON.stringify(arr[0])}\n${JSON.stringify(arr[0])}\n`,
      `${JSON.stringify(arr[0], null, 1)}${JSON.stringify(arr[0])}`,
    ];
    const counts = [1, 3, 2];
    for (let i = 0; i < forms.length; i++) {
      const r = await read(fromText(forms[i]!));
      assert.ok(r.result.ok);
      assert.equal(r.events.length, counts[i]);
      for (const e of r.events) assert.deepEqual(e, want);
    }
    // Byte-by-byte delivery: braces and quotes split across chunks.
    const split = await read(Readable.from([...Buffer.from(text)].map((b) => Buffer.from([b]))));
    assert.ok(split.result.ok);
    assert.deepEqual(split.events, [want]);
  });

  it('falls back to the rendered message when the structured fields are missing', () => {
    const o = structuredClone(arr[0]) as Record<string, Record<string, unknown>>;
    delete o.source;
    delete o.user;
    o.winlog!.event_data = {};
    const e = winEventFromJson(o)!;
    assert.deepEqual(
      [e.user, e.domain, e.address, e.port, e.logonType, e.status, e.subStatus, e.workstation],
      ['bosch', 'VAGRANT-2012-R2', '::1', 0, 2, '0xc000006d', '0xc0000064', 'VAGRANT-2012-R2'],
    );
    const data: Record<string, string> = {};
    fillFromRenderedMessage(data, String(arr[0]!.message));
    // The Subject's "Account Name: vagrant" is the requesting service, never the target.
    assert.equal(data.TargetUserName, 'bosch');
  });

  it('ignores events other than 4624/4625', () => {
    const other = structuredClone(arr[0]) as Record<string, Record<string, unknown>>;
    other.winlog!.event_id = 4672;
    other.event!.code = 4672;
    assert.equal(winEventFromJson(other), null);
    assert.equal(winEventFromJson('not an object'), null);
  });
});

describe('analysis/winlog: unreadable input', () => {
  it('refuses text that is no known export format', async () => {
    const r = await read(fs.createReadStream(corpusPath('sshd', 'loghub_SSH_2k.log')));
    assert.ok(!r.result.ok);
    assert.equal(r.result.error.kind, 'unknown_format');
    assert.equal(detectWinlogFormat('Dec 10 06:55:46 LabSZ sshd[24200]: x'), null);
  });

  it('refuses a CSV without source or account columns and names what it found', async () => {
    const r = await read(fs.createReadStream(corpusPath('sshd', 'loghub_OpenSSH_2k.log_structured.csv')));
    assert.ok(!r.result.ok);
    assert.equal(r.result.error.kind, 'csv_columns');
    assert.match(r.result.error.message, /found: LineId, Date, Day, Time, Component, Pid, Content, EventId, EventTemplate/);
  });

  it('counts a broken JSON record and goes on with the rest', async () => {
    const line = JSON.stringify((JSON.parse(corpusText('windows', BEATS)) as unknown[])[0]);
    const r = await read(fromText(`${line}\n{"event": {"code": 4625,,}}\n${line}\n`));
    assert.ok(r.result.ok);
    assert.deepEqual([r.result.value.records, r.result.value.logonEvents, r.result.value.malformed], [3, 2, 1]);
    assert.match(r.result.value.firstProblem!, /^record 2: /);
  });

  it('counts an <Event> without <EventID> as malformed', async () => {
    const r = await read(fromText('<Events><Event xmlns="x"><System></System></Event></Events>'));
    assert.ok(r.result.ok);
    assert.deepEqual([r.result.value.records, r.result.value.malformed], [1, 1]);
    assert.match(r.result.value.firstProblem!, /without <EventID>/);
  });

  it('stops at a record larger than 16 MiB', async () => {
    const big = Readable.from(
      (function* () {
        yield Buffer.from('[{"message": "');
        for (let i = 0; i < 20; i++) yield Buffer.alloc(1 << 20, 0x61);
      })(),
    );
    const r = await read(big);
    assert.ok(!r.result.ok);
    assert.equal(r.result.error.kind, 'record_too_large');
  });

  it('stops at an <Event> element larger than 16 MiB', async () => {
    const big = Readable.from(
      (function* () {
        yield Buffer.from('<Events><Event xmlns="x"><EventData><Data Name="IpAddress">');
        for (let i = 0; i < 20; i++) yield Buffer.alloc(1 << 20, 0x61);
      })(),
    );
    const r = await read(big);
    assert.ok(!r.result.ok);
    assert.equal(r.result.error.kind, 'record_too_large');
    assert.match(r.result.error.message, /<Event> element exceeds 16 MiB/);
  });

  it('reports a damaged gzip export and a failing event handler', async () => {
    const gz = zlib.gzipSync(fs.readFileSync(corpusPath('windows', XML)));
    const cut = await read(fromText(gz.subarray(0, gz.length >> 1)));
    assert.ok(!cut.result.ok);
    assert.equal(cut.result.error.kind, 'gzip_error');
    const r = await readWinlog(fs.createReadStream(corpusPath('windows', XML)), 'xml', () => {
      throw new Error('output closed');
    });
    assert.ok(!r.ok);
    assert.equal(r.error.kind, 'handler_error');
    assert.match(r.error.message, /output closed/);
  });

  it('accepts an empty input as zero records', async () => {
    const r = await read(fromText(''));
    assert.ok(r.result.ok);
    assert.equal(r.result.value.records, 0);
  });

  it('honours an explicit format', async () => {
    const r = await read(fs.createReadStream(corpusPath('windows', MSDOCS)), 'xml');
    assert.ok(r.result.ok);
    assert.equal(r.events.length, 1);
  });
});
