import { strict as assert } from 'node:assert';
import { parse as parseCsvSync } from 'csv-parse/sync';
import { AuthEvent, AuthLogAnalyzer, AuthLogSummary, classifyAuthLine, isCountedFailure } from '../../src/analysis/authlog';
import { createLogClock, LogClock } from '../../src/analysis/log-clock';
import { bruteForceOptions, BruteForceOptions } from '../../src/analysis/bruteforce';
import { classifyAddress } from '../../src/analysis/address-scope';
import { corpusText } from './corpus';

const YEAR = 2017;

function clock(): LogClock {
  const c = createLogClock({ year: YEAR });
  assert.ok(c.ok);
  return c.value;
}

function options(given: Partial<BruteForceOptions> = {}): BruteForceOptions {
  const o = bruteForceOptions(given);
  assert.ok(o.ok);
  return o.value;
}

function analyze(text: string, given: Partial<BruteForceOptions> = {}, countAllMethods = false): AuthLogSummary {
  const a = new AuthLogAnalyzer(clock(), options(given), { countAllMethods });
  for (const line of text.split('\n')) a.feedLine(line);
  return a.summarize();
}

const SSH = 'loghub_SSH_2k.log';

describe('analysis/authlog: loghub OpenSSH sample (LabSZ)', () => {
  const text = corpusText('sshd', SSH);
  const s = analyze(text, { topN: 100 });

  it('counts 528 failed-password attempts from 23 addresses, "message repeated" expanded', () => {
    assert.equal(s.failures.totalFailures, 528);
    assert.equal(s.failures.distinctSources, 23);
    assert.equal(s.failures.failuresWithoutSource, 0);
    assert.equal(s.counts.failedPasswordLines, 520);
    assert.equal(s.counts.repeatedFailedLines, 2);
    assert.deepEqual(s.counts.failedByMethod, { none: 4, password: 528 });
  });

  it('ranks 183.62.140.253 first with 286, then the README top list', () => {
    const top = s.failures.topSources.map((r) => [r.address, r.failures]);
    assert.deepEqual(top.slice(0, 6), [
      ['183.62.140.253', 286],
      ['187.141.143.180', 80],
      ['103.99.0.122', 46],
      ['112.95.230.3', 26],
      ['5.188.10.180', 18], // 17 if the double-space user " 0101" line were missed
      ['185.190.58.151', 17],
    ]);
    const by = new Map(s.failures.topSources.map((r) => [r.address, r.failures]));
    assert.equal(by.get('5.36.59.76'), 6); // 1 + 5 repeated
    assert.equal(by.get('106.5.5.195'), 6);
    assert.equal(s.failures.topSources.filter((r) => r.failures >= 5).length, 12);
    assert.equal(s.failures.topSources.filter((r) => r.failures >= 10).length, 6);
    assert.ok(s.failures.topSources.every((r) => r.scope === 'public' && r.isPublic));
  });

  it('keeps the user name with a leading space and ranks user names', () => {
    const users = new Map(s.failures.topUsers.map((u) => [u.user, u.failures]));
    // Attempts, not lines: the corpus README's "root 370" counts each "message repeated 5 times"
    // line once; loghub's own labels give 368 single lines plus 2 x 5 repeated.
    const rows = structuredRows();
    const rootSingles = rows.filter((r) => r.EventId === 'E9' && templateParams(r.EventTemplate, r.Content)[0] === 'root').length;
    const rootRepeated = rows
      .filter((r) => r.EventId === 'E14')
      .reduce((n, r) => n + Number(templateParams(r.EventTemplate, r.Content)[0]), 0);
    assert.equal(rootSingles, 368);
    assert.equal(users.get('root'), rootSingles + rootRepeated);
    assert.equal(users.get('root'), 378);
    assert.equal(users.get('admin'), 44);
    assert.equal(users.get('support'), 6);
    assert.equal(users.get('oracle'), 6);
    assert.equal(users.get('uucp'), 5);
    assert.equal(users.get('test'), 5);
    assert.equal(users.get(' 0101'), 1);
    assert.equal(s.failures.usersApproximate, false);
  });

  it('counts the other sshd event kinds as loghub labels them', () => {
    const rows = structuredRows();
    const byId = (...ids: string[]): number => rows.filter((r) => ids.includes(r.EventId)).length;
    assert.equal(s.counts.invalidUserLines, byId('E13'));
    assert.equal(s.counts.preauthDisconnects, byId('E2', 'E24', 'E25', 'E6', 'E7'));
    assert.equal(s.counts.maxAttemptsExceeded, byId('E4', 'E5'));
    assert.equal(s.counts.accepted, byId('E1'));
    const pamMore = rows
      .filter((r) => ['E15', 'E16', 'E17'].includes(r.EventId))
      .reduce((sum, r) => sum + Number(/^PAM (\d+) more/.exec(r.Content)![1]), 0);
    assert.equal(s.counts.pamFailures, byId('E19', 'E20') + pamMore);
    // Modern pam_unix lines duplicate "Failed password": they are not counted as attempts.
    assert.equal(s.counts.legacyPamFailures, 0);
    assert.equal(s.counts.untimedEvents, 0);
    assert.equal(s.counts.lines, 2000);
  });

  it('places failures inside the log time range of year 2017', () => {
    assert.ok(s.failures.firstMs! >= Date.UTC(YEAR, 11, 10, 6, 55, 46));
    assert.ok(s.failures.lastMs! <= Date.UTC(YEAR, 11, 10, 11, 4, 45));
    assert.ok(s.failures.firstMs! < s.failures.lastMs!);
  });

  it('reports the one Accepted login; its address had no failures, so no success-after-failures', () => {
    assert.equal(s.failures.successes, 1);
    assert.deepEqual(s.failures.successAfterFailures, []);
  });

  it('gives identical results for the CRLF copy (loghub_OpenSSH_2k.log)', () => {
    const crlf = corpusText('sshd', 'loghub_OpenSSH_2k.log');
    assert.ok(crlf.includes('\r\n'));
    assert.deepEqual(analyze(crlf, { topN: 100 }), s);
  });

  it('counts "Failed none" too when every method is asked for', () => {
    const all = analyze(text, {}, true);
    assert.equal(all.failures.totalFailures, 532);
  });

  it('streams each counted attempt to the callback without keeping it', () => {
    const seen: AuthEvent[] = [];
    const a = new AuthLogAnalyzer(clock(), options(), {}, (ev) => seen.push(ev));
    for (const line of text.split('\n')) a.feedLine(line);
    assert.equal(seen.length, 520);
    assert.equal(
      seen.reduce((n, e) => n + e.count, 0),
      528,
    );
    assert.ok(seen.every((e) => e.kind === 'failed' && e.method === 'password' && isCountedFailure(e)));
  });
});

interface StructuredRow {
  LineId: string;
  Date: string;
  Day: string;
  Time: string;
  Pid: string;
  Content: string;
  EventId: string;
  EventTemplate: string;
}

function structuredRows(): StructuredRow[] {
  return parseCsvSync(corpusText('sshd', 'loghub_OpenSSH_2k.log_structured.csv'), { columns: true }) as StructuredRow[];
}

/** loghub's template turned into a regex: its <*> parameters, independent of our parser. */
function templateParams(template: string, content: string): string[] {
  const re = new RegExp('^' + template.split('<*>').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('(.*?)') + '$');
  const m = re.exec(content);
  assert.ok(m, `template ${template} does not match ${content}`);
  return m.slice(1);
}

describe('analysis/authlog: agrees with loghub ground truth (structured CSV)', () => {
  const rows = structuredRows();
  const lines = corpusText('sshd', 'loghub_OpenSSH_2k.log').split('\n');
  const c = clock();
  const events = rows.map((_, i) => classifyAuthLine(lines[i]!, c));

  it('has one CSV row per log line', () => {
    assert.equal(rows.length, 2000);
    assert.equal(lines.length, 2000);
    // loghub's Content drops the trailing blank that PAM lines end with.
    rows.forEach((r, i) => assert.ok(lines[i]!.trimEnd().endsWith(r.Content.trimEnd()), `row ${r.LineId}`));
  });

  it('E9/E10 rows are exactly the single failed-password lines; E14 the repeated ones', () => {
    const single = new Set<number>();
    const repeated = new Set<number>();
    events.forEach((e, i) => {
      if (e?.kind === 'failed' && e.method === 'password') (e.count === 1 ? single : repeated).add(i);
    });
    const e9e10 = new Set(rows.flatMap((r, i) => (r.EventId === 'E9' || r.EventId === 'E10' ? [i] : [])));
    const e14 = new Set(rows.flatMap((r, i) => (r.EventId === 'E14' ? [i] : [])));
    assert.equal(e9e10.size, 518);
    assert.deepEqual(single, e9e10);
    assert.deepEqual(repeated, e14);
  });

  it('parses the same user, address and port as the template parameters, row by row', () => {
    let checked = 0;
    rows.forEach((r, i) => {
      if (r.EventId !== 'E9' && r.EventId !== 'E10' && r.EventId !== 'E14') return;
      const [a, b, c2] = templateParams(r.EventTemplate, r.Content);
      const e = events[i]!;
      if (r.EventId === 'E14') {
        // message repeated <*> times: [ Failed password for root from <*> port <*>]
        assert.equal(e.count, Number(a));
        assert.equal(e.user, 'root');
        assert.equal(e.address, b);
        assert.equal(e.port, parseInt(c2!, 10)); // the template's last <*> also holds " ssh2"
      } else {
        assert.equal(e.user, a, `row ${r.LineId}`);
        assert.equal(e.address, b, `row ${r.LineId}`);
        assert.equal(e.port, Number(c2), `row ${r.LineId}`);
        assert.equal(e.invalidUser, r.EventId === 'E10');
      }
      assert.equal(e.pid, Number(r.Pid));
      checked += 1;
    });
    assert.equal(checked, 520);
  });

  it('reads the PAM rhost, keeping host names (6 lines, 2 names) as host names', () => {
    const pam = rows.flatMap((r, i) => (r.EventId === 'E19' || r.EventId === 'E20' ? [[r, events[i]!] as const] : []));
    assert.equal(pam.length, 494);
    let hostnames = 0;
    for (const [r, e] of pam) {
      const params = templateParams(r.EventTemplate, r.Content);
      // E19: uid, euid, rhost; E20: uid, euid, rhost, user
      assert.equal(e.kind, 'pam_failure');
      assert.equal(e.address, params[2]!.trim());
      assert.equal(e.user, r.EventId === 'E20' ? params[3] : null);
      const isIpv4 = /^\d+\.\d+\.\d+\.\d+$/.test(params[2]!.trim());
      assert.equal(classifyAddress(e.address!).scope === 'hostname', !isIpv4, e.address!);
      if (!isIpv4) hostnames += 1;
    }
    assert.equal(hostnames, 6);
  });

  it('finds the same busiest windows as a brute-force count over loghub\'s own fields', () => {
    const windowSeconds = 60;
    const perIp = new Map<string, { t: number; n: number }[]>();
    for (const r of rows) {
      if (!['E9', 'E10', 'E14'].includes(r.EventId)) continue;
      const p = templateParams(r.EventTemplate, r.Content);
      const ip = r.EventId === 'E14' ? p[1]! : p[1]!;
      const n = r.EventId === 'E14' ? Number(p[0]) : 1;
      const [hh, mm, ss] = r.Time.split(':').map(Number) as [number, number, number];
      const t = Date.UTC(YEAR, 11, Number(r.Day), hh, mm, ss);
      perIp.set(ip, [...(perIp.get(ip) ?? []), { t, n }]);
    }
    const expected = new Map<string, number>();
    for (const [ip, evs] of perIp) {
      let best = 0;
      for (const a of evs) {
        const inWindow = evs.filter((b) => b.t >= a.t && b.t - a.t < windowSeconds * 1000).reduce((x, b) => x + b.n, 0);
        best = Math.max(best, inWindow);
      }
      expected.set(ip, best);
    }
    const s = analyze(corpusText('sshd', SSH), { windowSeconds, threshold: 10, topN: 100 });
    for (const r of s.failures.topSources) assert.equal(r.maxInWindow, expected.get(r.address), r.address);
    // More than the threshold: a window of exactly 10 is no candidate.
    const candidates = [...expected].filter(([, n]) => n > 10).map(([ip]) => ip).sort();
    assert.deepEqual(s.failures.bruteForce.map((r) => r.address).sort(), candidates);
    assert.ok(candidates.length > 0);
    // Busiest first.
    const maxes = s.failures.bruteForce.map((r) => r.maxInWindow);
    assert.deepEqual(maxes, [...maxes].sort((a, b) => b - a));
  });
});

describe('analysis/authlog: old RHEL sshd(pam_unix) log (loghub Linux)', () => {
  const s = analyze(corpusText('sshd', 'loghub_Linux_2k.log'), { topN: 100 });

  it('has no "Failed password" lines but 489 PAM authentication failures from 47 sources', () => {
    assert.equal(s.counts.failedPasswordLines, 0);
    assert.equal(s.counts.legacyPamFailures, 489);
    assert.equal(s.failures.totalFailures, 489);
    assert.equal(s.failures.distinctSources, 47);
  });

  it('keeps host names as host names and flags them non-public', () => {
    const hostnames = s.failures.topSources.filter((r) => r.scope === 'hostname');
    assert.equal(hostnames.length, 20);
    assert.ok(hostnames.every((r) => !r.isPublic));
    const by = new Map(s.failures.topSources.map((r) => [r.address, r]));
    assert.equal(by.get('150.183.249.110')!.failures, 80);
    assert.equal(by.get('n219076184117.netvigator.com')!.failures, 23);
    assert.equal(by.get('n219076184117.netvigator.com')!.scope, 'hostname');
    assert.equal(by.get('207.243.167.114')!.failures, 23);
    assert.equal(by.get('60.30.224.116')!.failures, 20);
    assert.equal(by.get('195.129.24.210')!.failures, 15);
    assert.equal(by.get('218.188.2.4')!.failures, 14);
    assert.equal(s.failures.topSources[0]!.address, '150.183.249.110');
  });

  it('ignores gdm(pam_unix) and other non-sshd failures', () => {
    const c = clock();
    const failures = corpusText('sshd', 'loghub_Linux_2k.log')
      .split('\n')
      .filter((l) => l.includes('authentication failure'));
    const notSshd = failures.filter((l) => !l.includes(' sshd('));
    assert.ok(notSshd.length > 0);
    assert.ok(notSshd.every((l) => classifyAuthLine(l, c) === null));
    assert.equal(failures.filter((l) => classifyAuthLine(l, c) !== null).length, 489);
  });
});

describe('analysis/authlog: line variants', () => {
  const c = clock();
  const one = (line: string): AuthEvent => {
    const e = classifyAuthLine(line, c);
    assert.ok(e, `not recognised: ${line}`);
    return e;
  };

  it('reads IPv6 sources and unwraps IPv4-mapped addresses', () => {
    const e = one('Mar  3 10:00:01 bastion sshd[811]: Failed password for root from 2001:db8::17 port 52211 ssh2');
    assert.equal(e.address, '2001:db8::17');
    assert.equal(e.user, 'root');
    assert.equal(e.timeMs, Date.UTC(YEAR, 2, 3, 10, 0, 1));
    assert.equal(one('Mar  3 10:00:01 h sshd[1]: Failed password for bob from ::ffff:203.0.113.9 port 1 ssh2').address, '203.0.113.9');
  });

  it('reads publickey, keyboard-interactive and none failures with their method', () => {
    const pk = one('Jan 11 04:12:43 srv sshd[2001]: Failed publickey for git from 198.51.100.4 port 40222 ssh2: RSA SHA256:Zq3mW0kvYV5C8sGqkV3xq0x1');
    assert.deepEqual([pk.kind, pk.method, pk.user, pk.address, pk.port], ['failed', 'publickey', 'git', '198.51.100.4', 40222]);
    assert.equal(isCountedFailure(pk), false);
    assert.equal(isCountedFailure(pk, { countAllMethods: true }), true);
    const ki = one('Jan 11 04:12:44 srv sshd[2002]: Failed keyboard-interactive/pam for invalid user oracle from 198.51.100.5 port 5000 ssh2');
    assert.deepEqual([ki.method, ki.user, ki.invalidUser], ['keyboard-interactive/pam', 'oracle', true]);
    assert.equal(isCountedFailure(ki), true);
  });

  it('keeps empty user names and names containing spaces', () => {
    const empty = one('Feb  2 02:02:02 h sshd[5]: Failed password for invalid user  from 192.0.2.10 port 2222 ssh2');
    assert.equal(empty.user, '');
    assert.equal(empty.invalidUser, true);
    const spaced = one('Feb  2 02:02:02 h sshd[5]: Failed password for invalid user john from doe from 192.0.2.11 port 2223 ssh2');
    assert.equal(spaced.user, 'john from doe');
    assert.equal(spaced.address, '192.0.2.11');
    const inv = one('Feb  2 02:02:02 h sshd[5]: Invalid user  from 192.0.2.12 port 4444');
    assert.deepEqual([inv.kind, inv.user, inv.address, inv.port], ['invalid_user', '', '192.0.2.12', 4444]);
  });

  it('reads maximum-attempts, Disconnected and Connection closed lines of current OpenSSH', () => {
    const max = one('Jun  9 07:01:02 h sshd[77]: error: maximum authentication attempts exceeded for invalid user admin from 203.0.113.50 port 50122 ssh2 [preauth]');
    assert.deepEqual([max.kind, max.user, max.invalidUser, max.address, max.port], ['max_attempts', 'admin', true, '203.0.113.50', 50122]);
    const newer = one('Jun  9 07:01:03 h sshd[78]: Disconnecting authenticating user root 203.0.113.51 port 40000: Too many authentication failures [preauth]');
    assert.deepEqual([newer.kind, newer.user, newer.address], ['max_attempts', 'root', '203.0.113.51']);
    const disc = one('Jun  9 07:01:04 h sshd[79]: Disconnected from invalid user test 203.0.113.52 port 41000 [preauth]');
    assert.deepEqual([disc.kind, disc.user, disc.invalidUser, disc.address, disc.port], ['preauth_disconnect', 'test', true, '203.0.113.52', 41000]);
    const closed = one('Jun  9 07:01:05 h sshd[80]: Connection closed by authenticating user root 203.0.113.53 port 42000 [preauth]');
    assert.deepEqual([closed.kind, closed.user, closed.address, closed.port], ['preauth_disconnect', 'root', '203.0.113.53', 42000]);
    const recv = one('Jun  9 07:01:06 h sshd[81]: Received disconnect from 203.0.113.54 port 43000:11: Bye Bye [preauth]');
    assert.deepEqual([recv.kind, recv.address, recv.port], ['preauth_disconnect', '203.0.113.54', 43000]);
    // Post-authentication disconnects are normal logouts.
    assert.equal(classifyAuthLine('Jun  9 07:01:07 h sshd[82]: Disconnected from user alice 203.0.113.55 port 44000', c), null);
  });

  it('reads Accepted publickey and records success after failures', () => {
    const acc = one('Apr  1 12:00:00 h sshd[90]: Accepted publickey for deploy from 198.51.100.20 port 60000 ssh2: ED25519 SHA256:abc');
    assert.deepEqual([acc.kind, acc.method, acc.user, acc.address], ['accepted', 'publickey', 'deploy', '198.51.100.20']);
    const a = new AuthLogAnalyzer(c, options({ failuresBeforeSuccess: 3 }));
    for (let i = 0; i < 4; i++) a.feedLine(`Apr  1 11:59:5${i} h sshd[9${i}]: Failed password for deploy from 198.51.100.20 port 6000${i} ssh2`);
    a.feedLine('Apr  1 12:00:00 h sshd[90]: Accepted password for deploy from 198.51.100.20 port 60000 ssh2');
    a.feedLine('Apr  1 12:00:01 h sshd[91]: Accepted password for other from 198.51.100.99 port 60001 ssh2');
    const s = a.summarize();
    assert.equal(s.failures.successes, 2);
    assert.deepEqual(s.failures.successAfterFailures, [
      {
        address: '198.51.100.20',
        scope: 'reserved', // TEST-NET-2 documentation range: never public
        isPublic: false,
        user: 'deploy',
        method: 'password',
        timeMs: Date.UTC(YEAR, 3, 1, 12, 0, 0),
        failuresBefore: 4,
        lastFailureMs: Date.UTC(YEAR, 3, 1, 11, 59, 53),
      },
    ]);
  });

  it('reads RFC 3339 timestamps, <PRI> prefixes, sshd-session and lines without a host', () => {
    const iso = one('2024-03-01T12:34:56.789012+01:00 web1 sshd[100]: Failed password for root from 192.0.2.1 port 22 ssh2');
    assert.equal(iso.timeMs, Date.UTC(2024, 2, 1, 11, 34, 56, 789));
    assert.equal(iso.host, 'web1');
    assert.equal(one('2024-03-01T12:34:56Z web1 sshd[100]: Failed password for root from 192.0.2.1 port 22 ssh2').timeMs, Date.UTC(2024, 2, 1, 12, 34, 56));
    const pri = one('<38>Dec 31 23:59:59 fw sshd[1]: Failed password for root from 192.0.2.2 port 22 ssh2');
    assert.equal(pri.timeMs, Date.UTC(YEAR, 11, 31, 23, 59, 59));
    assert.equal(one('Oct 10 10:10:10 h sshd-session[4242]: Failed password for root from 192.0.2.3 port 22 ssh2').pid, 4242);
    const nohost = one('Oct 10 10:10:10 sshd[7]: Failed password for root from 192.0.2.4 port 22 ssh2');
    assert.deepEqual([nohost.host, nohost.pid, nohost.address], ['', 7, '192.0.2.4']);
  });

  it('handles CRLF endings and space-padded days', () => {
    const e = one('Dec  1 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186\r');
    assert.equal(e.address, '173.234.31.186');
    assert.equal(e.timeMs, Date.UTC(YEAR, 11, 1, 6, 55, 46));
  });

  it('ignores lines from other programs and sshd messages that are not login events', () => {
    for (const line of [
      '',
      'garbage',
      'Dec 10 06:55:46 LabSZ systemd[1]: Started sshd.service',
      'Dec 10 06:55:46 LabSZ sudo: root : COMMAND=/usr/sbin/sshd -t',
      'Dec 10 06:55:46 LabSZ sshd[1]: Server listening on 0.0.0.0 port 22.',
      'Dec 10 06:55:46 LabSZ sshd[24200]: pam_unix(sshd:auth): check pass; user unknown',
      'Dec 10 06:55:46 LabSZ sshd[1]: Received disconnect from 119.137.62.142: 11: disconnected by user',
      'Dec 10 06:55:46 LabSZ sshd[1]: Connection closed by 1.2.3.4 port 22',
      'Jul 11 11:33:13 combo gdm(pam_unix)[2803]: authentication failure; logname= uid=0 euid=0 tty=:0 ruser= rhost=',
      'Dec 10 06:55:46 LabSZ sshd[1]: authentication failure; rhost=1.2.3.4', // only under the old tag
    ]) {
      assert.equal(classifyAuthLine(line, c), null, line);
    }
  });

  it('refuses lines longer than sshd can write (bounds regex work on forged lines)', () => {
    const user = 'x from y'.repeat(300);
    assert.equal(classifyAuthLine(`Dec 10 06:55:46 h sshd[1]: Failed password for ${user} from 192.0.2.1 port 22 ssh2`, c), null);
    const ok = classifyAuthLine(`Dec 10 06:55:46 h sshd[1]: Failed password for ${'u'.repeat(100)} from 192.0.2.1 port 22 ssh2`, c);
    assert.equal(ok!.user, 'u'.repeat(100));
  });

  it('marks an unreadable time as NaN and counts the event outside any window', () => {
    const a = new AuthLogAnalyzer(c, options());
    a.feedLine('Foo 10 06:55:46 h sshd[1]: Failed password for root from 192.0.2.9 port 22 ssh2');
    const s = a.summarize();
    assert.equal(s.counts.untimedEvents, 1);
    assert.equal(s.failures.totalFailures, 1);
    assert.equal(s.failures.firstMs, null);
    assert.equal(s.failures.topSources[0]!.maxInWindow, 0);
  });

  it('accepts pre-classified events through feedEvent', () => {
    const a = new AuthLogAnalyzer(c, options());
    a.feedEvent(one('Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2'));
    const s = a.summarize();
    assert.equal(s.counts.lines, 1);
    assert.equal(s.failures.topUsers[0]!.user, 'webmaster');
  });
});
