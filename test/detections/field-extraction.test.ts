/**
 * props.conf / transforms.conf of sourcetype suspicious_traffic, run as JavaScript (the conf
 * regexes translated by pcreToJs) over generator output of every format and scenario, whose
 * attempts are known, and over the real sshd and Windows corpus, whose counts are known
 * (test/fixtures/corpus/sshd/SOURCES.md) and which the analysis core (src/analysis) reads independently.
 */
import assert from 'node:assert/strict';
import { createReadStream, readFileSync } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import { AuthEvent, AuthLogAnalyzer } from '../../src/analysis/authlog';
import { DEFAULT_BRUTE_FORCE_OPTIONS } from '../../src/analysis/bruteforce';
import { createLogClock } from '../../src/analysis/log-clock';
import type { WinLogonEvent } from '../../src/analysis/winlog';
import { readWinlog } from '../../src/analysis/winlog-read';
import { ADDRESS_FAMILIES } from '../../src/generator/addresses';
import { FORMAT_NAMES } from '../../src/generator/formats';
import { SCENARIO_NAMES } from '../../src/generator/scenarios';
import { corpusPath } from '../support/paths';
import { loadSearchTime, readConf, stanzaEntries } from './app-conf';
import { indexLines } from './detection-run';
import { corpusLines, generateAttempts, windowsCsvLines, windowsEcsLine, windowsXmlLines } from './event-sources';
import { PcreError, pcreToJs } from './pcre';
import { danglingReferences, SearchTimeEvent } from './search-time';

const st = loadSearchTime();
const first = (ev: SearchTimeEvent, f: string): string | undefined => ev.fields.get(f)?.[0];
const attempts = (ev: SearchTimeEvent): number => Number(first(ev, 'attempt_count') ?? 'NaN');
const START = Date.UTC(2024, 4, 1, 23, 59, 30); // crosses midnight into a one-digit day (syslog pads it)

/** sum of attempt_count over action=failure events, per key */
function failuresBy(events: readonly SearchTimeEvent[], key: (ev: SearchTimeEvent) => string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const ev of events) {
    if (first(ev, 'action') !== 'failure') continue;
    const k = key(ev);
    if (k === undefined) continue;
    out.set(k, (out.get(k) ?? 0) + attempts(ev));
  }
  return out;
}

function countBy<T>(items: readonly T[], key: (t: T) => string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of items) {
    const k = key(t);
    if (k !== undefined) out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

function sorted(m: Map<string, number>): [string, number][] {
  return [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

/** The analysis core's counted failures of an auth.log file, per source. */
function authlogFailures(lines: readonly string[], year: number): Map<string, number> {
  const clock = createLogClock({ year });
  assert.ok(clock.ok);
  const out = new Map<string, number>();
  const a = new AuthLogAnalyzer(clock.value, DEFAULT_BRUTE_FORCE_OPTIONS, {}, (e: AuthEvent) => {
    if (e.address !== null) out.set(e.address, (out.get(e.address) ?? 0) + e.count);
  });
  for (const l of lines) a.feedLine(l);
  return out;
}

describe('detections: field extraction (props.conf / transforms.conf as JavaScript)', function () {
  this.timeout(120_000);

  it('translates every EXTRACT- and REPORT- regex, and the EVAL-/FIELDALIAS- settings read only fields that exist', () => {
    const props = stanzaEntries(readConf('props.conf').find((s) => s.name === 'suspicious_traffic')!);
    const extracts = [...props.keys()].filter((k) => k.startsWith('EXTRACT-'));
    const reports = [...props].filter(([k]) => k.startsWith('REPORT-')).flatMap(([, v]) => v.split(',').map((s) => s.trim()));
    assert.ok(extracts.length >= 9, 'kv and Windows extractions');
    assert.deepEqual(reports.sort(), ['soar_sshd_invalid_user', 'soar_sshd_login', 'soar_sshd_pam_failure', 'soar_win_event_fields']);
    const transforms = new Map(readConf('transforms.conf').map((s) => [s.name, stanzaEntries(s)]));
    for (const k of extracts) assert.doesNotThrow(() => pcreToJs(props.get(k)!, { extract: true }), k);
    for (const r of reports) assert.doesNotThrow(() => pcreToJs(transforms.get(r)!.get('REGEX')!), r);
    assert.equal(st.extractions.length, extracts.length + reports.length);
    assert.deepEqual(danglingReferences(st), []);
  });

  it('the translator refuses PCRE that JavaScript would read differently, and keeps what means the same', () => {
    for (const bad of ['a++b', '(?>abc)', '\\Aabc', 'abc\\z', '[[:alpha:]]+', '(?x) a b', 'a(?i)b', '\\Qa.b\\E', '(?1)']) {
      assert.throws(() => pcreToJs(bad), PcreError, bad);
    }
    const re = pcreToJs('(?P<ip>\\d+)-(?P=ip)[]x]', { extract: true });
    assert.equal(re.source, '(?<ip>\\d+)-\\k<ip>[\\]x]');
    assert.equal(re.flags, 'ms');
    assert.deepEqual({ ...re.exec('12-12]')?.groups }, { ip: '12' });
    assert.equal(pcreToJs('(?i)abc').test('ABC'), true);
  });

  describe('generator output: every format, scenario and address family, checked against the attempts it came from', () => {
    for (const format of FORMAT_NAMES) {
      it(`${format}: each attempt's events carry its address, user, port and outcome, and count as its attempts`, () => {
        let failures = 0;
        let successes = 0;
        let v6 = 0;
        for (const scenario of SCENARIO_NAMES) {
          for (const family of ADDRESS_FAMILIES) {
            const gen = generateAttempts({ scenario, format, family, seed: `detections-${scenario}-${family}`, startMs: START, maxAttempts: 150 });
            assert.equal(gen.length, 150);
            for (const { attempt, lines } of gen) {
              const events = indexLines(st, lines).events;
              const where = `${format}/${scenario}/${family}: ${lines.join(' | ')}`;
              for (const ev of events) {
                assert.deepEqual(ev.conflicts, [], where);
                assert.ok(ev.stamp !== null, `no timestamp: ${where}`);
                assert.ok(ev.stamp.length <= st.timestamp.lookahead, `stamp longer than MAX_TIMESTAMP_LOOKAHEAD: ${where}`);
                // key=value and syslog stamps are whole seconds, Windows' have milliseconds
                const expected = format === 'win4625' ? attempt.timeMs / 1000 : Math.floor(attempt.timeMs / 1000);
                assert.equal(ev.stamp.epochSeconds, expected, where);
                if (first(ev, 'src_ip') !== undefined) assert.equal(first(ev, 'src_ip'), attempt.srcIp, where);
              }
              const acted = events.filter((e) => first(e, 'action') !== undefined);
              if (attempt.outcome === 'failure') {
                assert.ok(acted.every((e) => first(e, 'action') === 'failure'), where);
                assert.equal(acted.reduce((n, e) => n + attempts(e), 0), attempt.repeat, where);
                failures += attempt.repeat;
              } else {
                assert.equal(acted.length, 1, where);
                assert.equal(first(acted[0]!, 'action'), 'success', where);
                successes++;
              }
              for (const e of acted) {
                assert.equal(first(e, 'src_ip'), attempt.srcIp, where);
                assert.equal(first(e, 'src'), attempt.srcIp, where);
                assert.equal(first(e, 'user'), attempt.user, where);
                if (attempt.srcIp.includes(':')) v6++;
                if (format === 'win4625') {
                  assert.equal(first(e, 'EventCode'), attempt.outcome === 'failure' ? '4625' : '4624', where);
                  assert.equal(first(e, 'event_type'), attempt.outcome === 'failure' ? 'win_logon_failed' : 'win_logon_success', where);
                  assert.equal(first(e, 'app'), `win:${first(e, 'EventCode')}`, where);
                  assert.equal(first(e, 'LogonType'), '3', where);
                  assert.equal(first(e, 'src_port'), String(attempt.srcPort), where);
                  assert.equal(first(e, 'dest'), 'DC01', where);
                  if (attempt.outcome === 'failure') {
                    assert.equal(first(e, 'Status'), '0xc000006d', where);
                    assert.equal(first(e, 'SubStatus'), attempt.userExists ? '0xc000006a' : '0xc0000064', where);
                  }
                } else {
                  assert.equal(first(e, 'event_type'), attempt.outcome === 'failure' ? 'ssh_failed' : 'ssh_success', where);
                  assert.equal(first(e, 'app'), 'sshd', where);
                  assert.equal(first(e, 'EventCode'), undefined, where);
                  if (format === 'sshd') {
                    assert.equal(first(e, 'src_port'), String(attempt.srcPort), where);
                    assert.equal(first(e, 'dest'), 'bastion', where);
                  } else {
                    const reason = attempt.outcome === 'success' ? `${attempt.method} accepted` : attempt.userExists ? 'password check failed' : 'invalid user';
                    assert.equal(first(e, 'reason'), reason, where);
                  }
                }
              }
            }
          }
        }
        assert.ok(failures > 2000 && successes > 100 && v6 > 1000, `${failures} failures, ${successes} successes, ${v6} IPv6`);
      });
    }
  });

  describe('real sshd logs (loghub)', () => {
    const ssh = indexLines(st, corpusLines('sshd', 'loghub_SSH_2k.log'), 2016).events;

    it('loghub_SSH_2k.log: 528 failed passwords from 23 addresses, 183.62.140.253 with 286 once "message repeated" counts N', () => {
      assert.equal(ssh.length, 2000);
      const perIp = failuresBy(ssh, (e) => first(e, 'src_ip'));
      assert.equal([...perIp.values()].reduce((a, b) => a + b, 0), 528);
      assert.equal(perIp.size, 23);
      assert.deepEqual(sorted(perIp).slice(0, 6), [
        ['183.62.140.253', 286],
        ['187.141.143.180', 80],
        ['103.99.0.122', 46],
        ['112.95.230.3', 26],
        ['5.188.10.180', 18],
        ['185.190.58.151', 17],
      ]);
      assert.equal(perIp.get('5.36.59.76'), 6, '1 direct + "message repeated 5 times"');
      assert.equal(perIp.get('106.5.5.195'), 6);
      const repeated = ssh.filter((e) => first(e, 'repeat_count') !== undefined && first(e, 'action') === 'failure');
      assert.deepEqual(repeated.map((e) => [first(e, 'repeat_count'), first(e, 'event_type'), attempts(e)]), [
        ['5', 'ssh_failed', 5],
        ['5', 'ssh_failed', 5],
      ]);
      // without the repeat field the count would be the line count
      assert.equal(ssh.filter((e) => first(e, 'action') === 'failure').length, 520);
      // the corpus README counts user names per line (root 370); attempts add the 2 x 4 repeats
      const lines = countBy(ssh.filter((e) => first(e, 'action') === 'failure'), (e) => first(e, 'user'));
      assert.deepEqual(sorted(lines).slice(0, 2), [
        ['root', 370],
        ['admin', 44],
      ]);
      assert.equal(failuresBy(ssh, (e) => first(e, 'user')).get('root'), 378);
      assert.ok(ssh.every((e) => e.conflicts.length === 0));
    });

    it('agrees per address with the analysis core (soar-edr authlog) on SSH_2k and on its CRLF twin OpenSSH_2k', () => {
      const lf = corpusLines('sshd', 'loghub_SSH_2k.log');
      const core = authlogFailures(lf, 2016);
      assert.deepEqual(sorted(failuresBy(ssh, (e) => first(e, 'src_ip'))), sorted(core));
      const crlf = indexLines(st, corpusLines('sshd', 'loghub_OpenSSH_2k.log'), 2016).events;
      assert.equal(crlf.length, ssh.length);
      crlf.forEach((e, i) => assert.deepEqual([...e.fields].filter(([k]) => k !== '_raw'), [...ssh[i]!.fields].filter(([k]) => k !== '_raw')));
    });

    it("every line gets the event_type of loghub's own template label (structured CSV)", () => {
      const rows = parseCsv(readFileSync(corpusPath('sshd', 'loghub_OpenSSH_2k.log_structured.csv')), { columns: true }) as { EventId: string; EventTemplate: string }[];
      assert.equal(rows.length, ssh.length);
      const expected: Record<string, string> = {
        E9: 'ssh_failed', // Failed password for <*> from <*> port <*> ssh2
        E10: 'ssh_failed', // Failed password for invalid user <*> ...
        E14: 'ssh_failed', // message repeated 5 times: [ Failed password ...]
        E8: 'ssh_failed_other', // Failed none for invalid user ...
        E13: 'ssh_invalid_user',
        E19: 'ssh_pam_failure',
        E20: 'ssh_pam_failure',
        E16: 'ssh_pam_failure', // PAM <*> more authentication failures
        E17: 'ssh_pam_failure', // PAM <*> more authentication failures; ... user=root
        E15: 'ssh_pam_failure', // PAM 1 more authentication failure
        E1: 'ssh_success', // Accepted password
      };
      const seen = new Map<string, number>();
      rows.forEach((r, i) => {
        const want = expected[r.EventId] ?? '(none)';
        assert.equal(first(ssh[i]!, 'event_type') ?? '(none)', want, `line ${i + 1} ${r.EventId} ${r.EventTemplate}`);
        seen.set(want, (seen.get(want) ?? 0) + 1);
      });
      assert.deepEqual(Object.fromEntries([...seen].sort()), {
        '(none)': 858,
        ssh_failed: 520,
        ssh_failed_other: 4,
        ssh_invalid_user: 113,
        ssh_pam_failure: 504,
        ssh_success: 1,
      });
    });

    it('keeps odd user names whole: a leading space, and a name that contains " from <address>"', () => {
      const spaced = ssh.filter((e) => first(e, 'user') === ' 0101');
      assert.deepEqual(
        spaced.map((e) => [first(e, 'event_type'), first(e, 'src_ip')]),
        [
          ['ssh_invalid_user', '5.188.10.180'],
          ['ssh_failed', '5.188.10.180'],
        ],
      );
      const [tricky] = indexLines(st, ['Dec 10 06:55:46 LabSZ sshd[1]: Failed password for invalid user x from 8.8.8.8 port 1 from 203.0.113.9 port 40022 ssh2']).events;
      assert.equal(first(tricky!, 'user'), 'x from 8.8.8.8 port 1');
      assert.equal(first(tricky!, 'src_ip'), '203.0.113.9');
    });

    it('loghub_Linux_2k.log (old sshd(pam_unix) tag, no "Failed password"): 489 attempts from 47 sources, as the analysis core counts them', () => {
      const lines = corpusLines('sshd', 'loghub_Linux_2k.log');
      const linux = indexLines(st, lines, 2005).events;
      const bySrc = failuresBy(linux, (e) => first(e, 'src'));
      assert.equal([...bySrc.values()].reduce((a, b) => a + b, 0), 489);
      assert.equal(bySrc.size, 47);
      assert.deepEqual(sorted(bySrc).slice(0, 3), [
        ['150.183.249.110', 80],
        ['207.243.167.114', 23],
        ['n219076184117.netvigator.com', 23],
      ]);
      // a host name is a src, never a src_ip (the alert action takes addresses only)
      const named = [...bySrc.keys()].filter((s) => !/^[\d.]+$/.test(s));
      assert.equal(named.length, 20);
      assert.equal(failuresBy(linux, (e) => first(e, 'src_ip')).size, 27);
      assert.deepEqual(sorted(bySrc), sorted(authlogFailures(lines, 2005)));
    });
  });

  describe('real Windows 4625 exports (DeepBlueCLI, Microsoft, winlogbeat), as win4625 key=value lines', () => {
    const csv = windowsCsvLines();
    const events = indexLines(st, csv.lines).events;

    it('DeepBlueCLI SMB guessing, all 3,561 events: one source, LogonType 3, the Status / SubStatus counts of the corpus', () => {
      assert.equal(events.length, 3561);
      assert.ok(events.every((e) => first(e, 'action') === 'failure' && first(e, 'event_type') === 'win_logon_failed' && first(e, 'app') === 'win:4625'));
      assert.deepEqual([...failuresBy(events, (e) => first(e, 'src_ip'))], [['192.168.198.149', 3561]]);
      assert.deepEqual([...countBy(events, (e) => first(e, 'LogonType'))], [['3', 3561]]);
      assert.deepEqual(Object.fromEntries(countBy(events, (e) => first(e, 'Status'))), { '0xc000006d': 3559, '0xc000006e': 2 });
      assert.deepEqual(Object.fromEntries(countBy(events, (e) => first(e, 'SubStatus'))), { '0xc0000064': 1, '0xc000006a': 3558, '0xc0000072': 2 });
      assert.equal(new Set(events.map((e) => first(e, 'src_nt_host'))).size, 3561, 'a random WorkstationName per event');
      const times = events.map((e) => e.stamp!.epochSeconds);
      assert.equal(new Date(Math.min(...times) * 1000).toISOString(), '2016-09-19T16:50:06.477Z');
      assert.equal(new Date(Math.max(...times) * 1000).toISOString(), '2016-09-19T16:52:49.399Z');
      events.forEach((e, i) => {
        const r = csv.rows[i]!;
        assert.deepEqual([first(e, 'user'), first(e, 'src_port'), first(e, 'dest')], [r.TargetUserName, r.IpPort, r.Computer]);
      });
    });

    it('agrees per address and account with the analysis core (soar-edr winlog) reading the CSV and the Event XML', async () => {
      const core: WinLogonEvent[] = [];
      const read = await readWinlog(createReadStream(corpusPath('windows', 'deepbluecli_smb-password-guessing-security_4625_all.csv')), 'auto', (e) => core.push(e));
      assert.ok(read.ok);
      const key = (ip: string | null | undefined, user: string | null | undefined) => `${ip} ${user}`;
      assert.deepEqual(
        sorted(failuresBy(events, (e) => key(first(e, 'src_ip'), first(e, 'user')))),
        sorted(countBy(core.filter((e) => e.eventId === 4625), (e) => key(e.address, e.user))),
      );
      const xml = indexLines(st, windowsXmlLines('deepbluecli_smb-password-guessing-security_4625_first100.xml')).events;
      assert.equal(xml.length, 100);
      assert.deepEqual(Object.fromEntries(countBy(xml, (e) => first(e, 'user'))), { Administrator: 99, JcDfcZTc: 1 });
      const fields = ['src_ip', 'user', 'src_port', 'LogonType', 'Status', 'SubStatus', 'EventCode', 'action', 'dest'];
      xml.forEach((e, i) => assert.deepEqual(fields.map((f) => first(e, f)), fields.map((f) => first(events[i]!, f)), `XML event ${i + 1} = CSV row ${i + 1}`));
    });

    it("Microsoft's documented 4625 and winlogbeat's IPv6-loopback 4625", () => {
      const [ms] = indexLines(st, windowsXmlLines('microsoft_docs_event-4625_example.xml.txt')).events;
      assert.deepEqual(
        ['src_ip', 'user', 'LogonType', 'Status', 'SubStatus', 'dest', 'action'].map((f) => first(ms!, f)),
        ['127.0.0.1', 'Auditor', '2', '0xc0000234', '0x0', 'DC01.contoso.local', 'failure'],
      );
      const [ecs] = indexLines(st, [windowsEcsLine()]).events;
      assert.deepEqual(['src_ip', 'src', 'user', 'LogonType', 'SubStatus', 'action', 'app'].map((f) => first(ecs!, f)), ['::1', '::1', 'bosch', '2', '0xc0000064', 'failure', 'win:4625']);
    });
  });

  describe('attacker-chosen text cannot create or replace fields of another shape', () => {
    const one = (line: string) => indexLines(st, [line]).events[0]!;

    it('a user name holding key=value pairs in an sshd line changes nothing but the user', () => {
      const e = one('Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for invalid user x src_ip=8.8.8.8 EventCode=4625 IpAddress=8.8.4.4 from 203.0.113.7 port 4242 ssh2');
      assert.deepEqual(['src_ip', 'src', 'user', 'event_type', 'EventCode', 'IpAddress', 'action'].map((f) => first(e, f)), [
        '203.0.113.7',
        '203.0.113.7',
        'x src_ip=8.8.8.8 EventCode=4625 IpAddress=8.8.4.4',
        'ssh_failed',
        undefined,
        undefined,
        'failure',
      ]);
      const iso = one('2024-03-01T12:34:56+01:00 bastion sshd[7]: Failed password for x EventCode=4625 IpAddress=8.8.8.8 from 203.0.113.7 port 22 ssh2');
      assert.deepEqual([first(iso, 'src_ip'), first(iso, 'EventCode'), first(iso, 'app')], ['203.0.113.7', undefined, 'sshd']);
      assert.equal(iso.stamp!.epochSeconds, Date.UTC(2024, 2, 1, 11, 34, 56) / 1000);
    });

    it('a Windows user or workstation name holding IpAddress= does not replace the address Windows wrote last', () => {
      const e = one('2024-05-01T10:00:00.000Z LogName=Security EventCode=4625 ComputerName=DC01 TargetUserName=bob IpAddress=8.8.8.8 IpPort=1 Status=0xc000006d SubStatus=0xc000006a LogonType=3 WorkstationName=W IpAddress=203.0.113.7 IpPort=5555');
      assert.deepEqual(['src_ip', 'src_port', 'user', 'action'].map((f) => first(e, f)), ['203.0.113.7', '5555', 'bob', 'failure']);
    });

    it('a key=value reason quoting src_ip= does not replace the src_ip before it', () => {
      const e = one("2026-11-24 10:15:02 event_type=ssh_failed src_ip=203.0.113.42 user='a b' reason='spoof src_ip=8.8.8.8 user=root'");
      assert.deepEqual(['src_ip', 'user', 'reason', 'action', 'app'].map((f) => first(e, f)), ['203.0.113.42', 'a b', 'spoof src_ip=8.8.8.8 user=root', 'failure', 'sshd']);
    });
  });
});
