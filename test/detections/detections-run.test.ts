/**
 * The detections run over generated attacks: the saved searches' SPL (macros expanded) executes
 * in the search emulator over events made by the app's own extractions, at "now" = just after
 * the last event, and each result is compared with what the generated attempts say it must be,
 * computed here directly from the attempts with the thresholds and windows read from macros.conf.
 * The same lines, as the Unix/Linux and Windows add-ons present them (addon-events.ts), must give
 * the same rows; so must the real sshd and Windows corpus, window by window.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import type { AddressFamily } from '../../src/generator/addresses';
import type { FormatName } from '../../src/generator/formats';
import { SCENARIO_NAMES, type ScenarioName } from '../../src/generator/scenarios';
import { Detection, loadDetections, loadMacros, loadSearchTime, PIPELINE_FIELDS } from './app-conf';
import { AddonShape, linuxSecureEvents, WINDOWS_SHAPES, windowsLogonOfCsvRow, windowsLogonOfKvLine, windowsSecurityEvent, WindowsLogon } from './addon-events';
import { indexLines, runDetection, SearchableEvents, searchableRows } from './detection-run';
import { corpusLines, generateAttempts, GeneratedAttempt, windowsCsvLines } from './event-sources';
import { expandMacros } from './macros';
import { collate, parseCommand, Row, runPipeline, splitPipeline } from './spl-pipeline';
import { strftimeUtc, Value } from './spl-eval';
import { parseSearch, resolveTime } from './spl-search';

const macros = loadMacros().defs;
const detections = loadDetections();
const st = loadSearchTime();
const START = Date.UTC(2024, 4, 1, 23, 40, 0);
const MINUTES = 35;

function macroNumber(name: string): number {
  const n = Number(macros.get(`${name}/0`)?.definition);
  assert.ok(Number.isFinite(n), `${name} is a number`);
  return n;
}

function macroWindowSeconds(name: string): number {
  const earliest = parseSearch(macros.get(`${name}/0`)!.definition).earliest;
  assert.ok(earliest !== null, `${name} sets earliest=`);
  return -resolveTime(earliest, 0);
}

const T = {
  ssh: macroNumber('soar_ssh_bruteforce_threshold'),
  win: macroNumber('soar_windows_bruteforce_threshold'),
  compromise: macroNumber('soar_compromise_failure_threshold'),
  spray: macroNumber('soar_spray_user_threshold'),
  sources: macroNumber('soar_distributed_source_threshold'),
  networkFailures: macroNumber('soar_distributed_failure_threshold'),
};
const W = {
  ssh: macroWindowSeconds('soar_ssh_bruteforce_window'),
  win: macroWindowSeconds('soar_windows_bruteforce_window'),
  compromise: macroWindowSeconds('soar_compromise_window'),
  spray: macroWindowSeconds('soar_spray_window'),
  distributed: macroWindowSeconds('soar_distributed_window'),
};

const detection = (suffix: string): Detection => detections.find((d) => d.name === `SOAR-EDR - ${suffix}`)!;
const iso = (t: number) => strftimeUtc(t, '%Y-%m-%dT%H:%M:%S%:z');
const uniqSorted = (xs: Iterable<string>) => [...new Set(xs)].sort();

/** One attempt as Splunk's events present it. */
interface Seen {
  readonly t: number;
  readonly ip: string;
  readonly user: string;
  readonly failure: boolean;
  readonly n: number;
}

function seen(gen: readonly GeneratedAttempt[], format: FormatName): Seen[] {
  return gen.map(({ attempt: a }) => ({
    t: format === 'win4625' ? a.timeMs / 1000 : Math.floor(a.timeMs / 1000),
    ip: a.srcIp,
    user: a.user,
    failure: a.outcome === 'failure',
    n: a.repeat,
  }));
}

type Expected = Record<string, string | number | string[]>;

function group<K, V>(items: readonly V[], key: (v: V) => K): Map<K, V[]> {
  const m = new Map<K, V[]>();
  for (const v of items) {
    const k = key(v);
    const list = m.get(k);
    if (list) list.push(v);
    else m.set(k, [v]);
  }
  return m;
}

const sum = (xs: readonly Seen[]) => xs.reduce((s, x) => s + x.n, 0);
const minT = (xs: readonly Seen[]) => Math.min(...xs.map((x) => x.t));
const maxT = (xs: readonly Seen[]) => Math.max(...xs.map((x) => x.t));

/** The /24 or /64 an address is in, written as the macro writes it. */
function network(ip: string): string {
  const a = ipaddr.parse(ip);
  if (a.kind() === 'ipv4') return `${ip.split('.').slice(0, 3).join('.')}.0/24`;
  return `${(a as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16)).join(':')}::/64`;
}

function expected(all: readonly Seen[], format: FormatName, now: number): Record<string, Expected[]> {
  const within = (w: number) => all.filter((x) => x.t >= now - w && x.t < now);
  const byIp = (xs: readonly Seen[]) => [...group(xs, (x) => x.ip)].sort(([a], [b]) => collate(a, b));
  const out: Record<string, Expected[]> = {};

  out['SSH brute force'] =
    format === 'win4625'
      ? []
      : byIp(within(W.ssh).filter((x) => x.failure))
          .filter(([, xs]) => sum(xs) > T.ssh)
          .map(([ip, xs]) => ({
            src_ip: ip,
            failure_count: sum(xs),
            users: uniqSorted(xs.map((x) => x.user)),
            user_count: new Set(xs.map((x) => x.user)).size,
            attack_type: 'ssh_brute_force',
            severity: 'high',
            first_seen: iso(minT(xs)),
            last_seen: iso(maxT(xs)),
          }));

  out['Windows failed-logon brute force'] =
    format !== 'win4625'
      ? []
      : byIp(within(W.win).filter((x) => x.failure))
          .map(([ip, xs]) => [ip, [...group(xs, (x) => x.user).values()].filter((u) => sum(u) > T.win)] as const)
          .filter(([, accounts]) => accounts.length > 0)
          .map(([ip, accounts]) => ({
            src_ip: ip,
            failure_count: accounts.reduce((s, u) => s + sum(u), 0),
            users: uniqSorted(accounts.map((u) => u[0]!.user)),
            logon_types: ['3'],
            attack_type: 'windows_brute_force',
            severity: 'high',
            first_seen: iso(Math.min(...accounts.map(minT))),
            last_seen: iso(Math.max(...accounts.map(maxT))),
          }));

  out['Successful login after failures'] = byIp(within(W.compromise)).flatMap(([ip, xs]) => {
    const successes = xs.filter((x) => !x.failure);
    if (successes.length === 0) return [];
    const last = maxT(successes);
    const before = xs.filter((x) => x.t <= last);
    const failures = before.filter((x) => x.failure);
    if (sum(failures) <= T.compromise) return [];
    return [
      {
        src_ip: ip,
        failure_count: sum(failures),
        users: uniqSorted(successes.map((x) => x.user)),
        attempted_users: uniqSorted(before.map((x) => x.user)),
        apps: format === 'win4625' ? ['win:4624', 'win:4625'] : ['sshd'],
        attack_type: 'compromise_after_brute_force',
        severity: 'critical',
        first_seen: iso(minT(failures)),
        last_seen: iso(last),
      },
    ];
  });

  out['Password spraying'] = byIp(within(W.spray).filter((x) => x.failure))
    .filter(([, xs]) => new Set(xs.map((x) => x.user)).size > T.spray)
    .map(([ip, xs]) => ({
      src_ip: ip,
      failure_count: sum(xs),
      user_count: new Set(xs.map((x) => x.user)).size,
      users: uniqSorted(xs.map((x) => x.user)),
      attack_type: 'password_spraying',
      severity: 'medium',
      first_seen: iso(minT(xs)),
      last_seen: iso(maxT(xs)),
    }));

  const perIp = byIp(within(W.distributed).filter((x) => x.failure)).map(([ip, xs]) => ({ ip, xs, failures: sum(xs), net: network(ip) }));
  out['Distributed brute force'] = [...group(perIp, (p) => p.net)]
    .filter(([, ips]) => ips.length > T.sources && ips.reduce((s, p) => s + p.failures, 0) > T.networkFailures)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([net, ips]) => {
      const busiest = [...ips].sort((p, q) => q.failures - p.failures || collate(p.ip, q.ip))[0]!;
      return {
        src_ip: busiest.ip,
        src_network: net,
        source_count: ips.length,
        failure_count: ips.reduce((s, p) => s + p.failures, 0),
        users: uniqSorted(ips.flatMap((p) => p.xs.map((x) => x.user))),
        src_ips: uniqSorted(ips.map((p) => p.ip)),
        attack_type: 'distributed_brute_force',
        severity: 'high',
        first_seen: iso(Math.min(...ips.map((p) => minT(p.xs)))),
        last_seen: iso(Math.max(...ips.map((p) => maxT(p.xs)))),
      };
    });
  return out;
}

/** A result row in the shape of Expected: multivalue fields as sorted lists, as Splunk's values() gives them. */
function plain(row: Row, like: Expected | undefined): Expected {
  const out: Expected = {};
  for (const [k, v] of row) {
    const wantList = like !== undefined && Array.isArray(like[k]);
    out[k] = Array.isArray(v) ? v.map(String) : wantList ? [String(v)] : (v as string | number);
  }
  return out;
}

/**
 * The add-on variants of a line format: each turns the lines into the events an add-on gives.
 * The XML variant with Status 0xC0000064 is the one the Windows add-on marks action=unknown.
 */
interface AddonVariant {
  readonly name: string;
  readonly rows: (lines: readonly string[]) => Row[];
}

function windowsVariant(shape: AddonShape, change: (l: WindowsLogon) => WindowsLogon = (l) => l, name: string = shape): AddonVariant {
  return {
    name,
    rows: (lines) => lines.flatMap((l) => {
      const logon = windowsLogonOfKvLine(l);
      return logon === null ? [] : [windowsSecurityEvent(change(logon), shape)];
    }),
  };
}

const ADDON_VARIANTS: Partial<Record<FormatName, readonly AddonVariant[]>> = {
  sshd: [{ name: 'linux_secure', rows: (lines) => lines.flatMap((l) => linuxSecureEvents(l, 2024)) }],
  win4625: [
    ...WINDOWS_SHAPES.map((shape) => windowsVariant(shape)),
    windowsVariant('XmlWinEventLog', (l) => (l.eventCode === '4625' ? { ...l, status: '0xc0000064' } : l), 'XmlWinEventLog, 4625 with action=unknown'),
  ],
};

/** The app values each source gives login events (CIM app): the rows' apps field is the one place they differ. */
const ADDON_APPS = new Set(['sshd', 'win:remote', 'win:local', 'win:unknown']);

/** Rows as plain objects without apps, and the apps apart. */
function splitApps(rows: readonly Row[], like: readonly Expected[]): { rows: Expected[]; apps: string[] } {
  const apps: string[] = [];
  const out = rows.map((r, i) => {
    const p = plain(r, like[i]);
    if (p.apps !== undefined) apps.push(...(Array.isArray(p.apps) ? p.apps : [String(p.apps)]));
    delete p.apps;
    return p;
  });
  return { rows: out, apps };
}

/** Every detection over the add-on's events returns the rows it returns over the app's own; the number of rows. */
function assertSameRows(own: SearchableEvents, addon: SearchableEvents, now: number, where: string): number {
  let fired = 0;
  for (const d of detections) {
    const short = d.name.replace('SOAR-EDR - ', '');
    const want = runDetection(d, own, now);
    const got = runDetection(d, addon, now);
    const w = splitApps(want, []);
    const g = splitApps(got, w.rows);
    assert.deepEqual(g.rows, w.rows, `${short} ${where}`);
    for (const a of g.apps) assert.ok(ADDON_APPS.has(a), `${short} ${where}: app ${a}`);
    fired += got.length;
  }
  return fired;
}

describe('detections: the saved searches run over generated attacks', function () {
  this.timeout(300_000);

  const fired = new Map<string, Map<string, number>>();
  for (const scenario of SCENARIO_NAMES) {
    for (const format of ['kv', 'sshd', 'win4625'] as FormatName[]) {
      for (const family of ['ipv4', 'ipv6'] as AddressFamily[]) {
        const addonNote = ADDON_VARIANTS[format] === undefined ? '' : `, and the same over ${ADDON_VARIANTS[format]!.map((v) => v.name).join(' / ')}`;
        it(`${scenario} / ${format} / ${family}: every detection returns exactly the rows the attempts call for${addonNote}`, () => {
          const gen = generateAttempts({ scenario, format, family, seed: `run-${scenario}-${format}-${family}`, startMs: START, maxAttempts: 50_000, untilMs: START + MINUTES * 60_000 });
          const indexed = indexLines(st, gen.flatMap((g) => g.lines));
          const now = Math.floor(indexed.lastTime) + 1;
          const want = expected(seen(gen, format), format, now);
          const counts = new Map<string, number>();
          for (const d of detections) {
            const short = d.name.replace('SOAR-EDR - ', '');
            const rows = runDetection(d, indexed, now);
            const wanted = want[short]!;
            assert.deepEqual(
              rows.map((r, i) => plain(r, wanted[i])),
              wanted,
              `${short} over ${gen.length} attempts`,
            );
            for (const r of rows) for (const f of PIPELINE_FIELDS) assert.ok(r.get(f) !== undefined && r.get(f) !== null, `${short}: ${f} in every row`);
            counts.set(short, rows.length);
          }
          fired.set(`${scenario}/${format}/${family}`, counts);
          // the same attempts as the add-ons' events: the same rows
          for (const variant of ADDON_VARIANTS[format] ?? []) {
            const addon = searchableRows(variant.rows(gen.flatMap((g) => g.lines)));
            assert.ok(addon.rows.length > 0 && addon.rows.every((r) => !r.has('attempt_count')), variant.name);
            assertSameRows(indexed, addon, now, `over ${variant.name} events`);
          }
        });
      }
    }
  }

  it('each scenario trips the detection it was made for, and benign traffic or a slow drip trips none', () => {
    const rows = (scenario: ScenarioName, format: FormatName, family: AddressFamily, d: string) => fired.get(`${scenario}/${format}/${family}`)!.get(d)!;
    for (const family of ['ipv4', 'ipv6'] as AddressFamily[]) {
      for (const format of ['kv', 'sshd', 'win4625'] as FormatName[]) {
        const bruteForce = format === 'win4625' ? 'Windows failed-logon brute force' : 'SSH brute force';
        assert.equal(rows('fast-bruteforce', format, family, bruteForce), 1, `${format}/${family}`);
        assert.equal(rows('classic-script', format, family, bruteForce) > 0, true);
        for (const d of ['Successful login after failures', 'Password spraying', 'Distributed brute force']) assert.equal(rows('fast-bruteforce', format, family, d), 0, d);
        assert.equal(rows('password-spray', format, family, 'Password spraying'), 1);
        assert.equal(rows('distributed', format, family, 'Distributed brute force'), 1);
        assert.ok(rows('success-after-failures', format, family, 'Successful login after failures') > 0);
        for (const d of detections.map((x) => x.name.replace('SOAR-EDR - ', ''))) {
          assert.equal(rows('benign', format, family, d), 0, `benign ${format}/${family} ${d}`);
          // at most 10 guesses in any 15 minutes (the generator's promise), 1 to 2 users a round
          assert.equal(rows('slow-bruteforce', format, family, d), 0, `slow ${format}/${family} ${d}`);
        }
      }
    }
  });

  it("distributed: the network row names the generator's /24 or /64, the busiest address, and every attacking address", () => {
    for (const family of ['ipv4', 'ipv6'] as AddressFamily[]) {
      const gen = generateAttempts({ scenario: 'distributed', format: 'sshd', family, seed: `net-${family}`, startMs: START, maxAttempts: 50_000, untilMs: START + 20 * 60_000 });
      const indexed = indexLines(st, gen.flatMap((g) => g.lines));
      const [row, ...more] = runDetection(detection('Distributed brute force'), indexed);
      assert.equal(more.length, 0);
      const addresses = uniqSorted(gen.map((g) => g.attempt.srcIp));
      const cidr = row!.get('src_network') as string;
      const [net, bits] = ipaddr.parseCIDR(cidr);
      assert.equal(bits, family === 'ipv4' ? 24 : 64);
      assert.ok(addresses.every((a) => ipaddr.parse(a).match(net, bits)), cidr);
      assert.ok(addresses.includes(row!.get('src_ip') as string));
      assert.ok((row!.get('src_ips') as string[]).length > T.sources);
    }
  });
});

describe("detections: the real corpus as the add-ons' events fires what the app's sourcetype fires", function () {
  this.timeout(300_000);
  const FIVE_MINUTES = 300;

  /** "now" every 5 minutes (the schedule) from the first event until the last has left every window. */
  function schedule(own: SearchableEvents): number[] {
    const times = own.rows.map((r) => r.get('_time')).filter((t): t is number => typeof t === 'number');
    const first = Math.ceil(Math.min(...times) / FIVE_MINUTES) * FIVE_MINUTES;
    const out: number[] = [];
    for (let now = first; now <= Math.max(...times) + 2 * Math.max(...Object.values(W)); now += FIVE_MINUTES) out.push(now);
    return out;
  }

  /** Rows all detections return over the schedule (the same over both, or an assertion fails). */
  function fireCount(own: SearchableEvents, addon: SearchableEvents, where: string): { fired: number; runs: number } {
    const nows = schedule(own);
    const fired = nows.reduce((n, now) => n + assertSameRows(own, addon, now, `${where} at ${iso(now)}`), 0);
    return { fired, runs: nows.length };
  }

  it('loghub_SSH_2k.log as linux_secure (Splunk Add-on for Unix and Linux): every detection, every 5 minutes', () => {
    const lines = corpusLines('sshd', 'loghub_SSH_2k.log');
    const own = indexLines(st, lines, 2016);
    const addon = searchableRows(lines.flatMap((l) => linuxSecureEvents(l, 2016)));
    // every attempt the app's extractions count is one add-on event (a "message repeated N times" line N)
    const attempts = own.events.filter((e) => e.fields.get('action') !== undefined).reduce((n, e) => n + Number(e.fields.get('attempt_count')![0]), 0);
    assert.equal(addon.rows.length, attempts);
    assert.ok(addon.rows.every((r) => r.get('sourcetype') === 'linux_secure' && !r.has('src_ip') && !r.has('attempt_count')));
    const { fired, runs } = fireCount(own, addon, 'loghub_SSH_2k.log');
    assert.ok(runs > 40 && fired > 10, `${fired} rows over ${runs} runs`);
  });

  for (const shape of WINDOWS_SHAPES) {
    it(`the DeepBlueCLI 4625 export as ${shape} (Splunk Add-on for Microsoft Windows): every detection, every 5 minutes`, () => {
      const { rows, lines } = windowsCsvLines();
      const own = indexLines(st, lines);
      const addon = searchableRows(rows.map((r) => windowsSecurityEvent(windowsLogonOfCsvRow(r), shape)));
      // the add-on's src is the client's workstation name here: the address is src_ip
      assert.ok(addon.rows.filter((r) => r.get('src') !== r.get('src_ip')).length > 3000);
      assert.ok(fireCount(own, addon, shape).fired > 0);
    });
  }

  it('a linux_secure failure whose src is a host name (reverse DNS) is no attacker row and does not disturb the others', () => {
    const gen = generateAttempts({ scenario: 'distributed', format: 'sshd', family: 'ipv4', seed: 'addon-hostnames', startMs: START, maxAttempts: 50_000, untilMs: START + 20 * 60_000 });
    const attack = gen.flatMap((g) => g.lines).flatMap((l) => linuxSecureEvents(l, 2024));
    const failure = attack.find((r) => r.get('action') === 'failure')!;
    // the rhost of a real pam_unix line of loghub_Linux_2k.log and other names, as the attack's failures
    const named = Array.from({ length: 200 }, (_, i) => new Map([...failure, ['src', i % 2 === 0 ? 'n219076184117.netvigator.com' : `host${i}.example`], ['user', `u${i}`]]));
    const plainRun = searchableRows(attack);
    const withNames = searchableRows([...attack, ...named]);
    const now = Math.floor(plainRun.lastTime) + 1;
    let rows = 0;
    for (const d of detections) {
      const want = runDetection(d, plainRun, now);
      const got = runDetection(d, withNames, now);
      assert.deepEqual(got, want, d.name);
      for (const r of got) assert.ok(ipaddr.isValid(r.get('src_ip') as string), `${d.name}: ${String(r.get('src_ip'))}`);
      rows += got.length;
    }
    assert.ok(rows > 0);
  });
});

describe('detections: macro soar_src_network (IPv4 /24, IPv6 /64 in SPL)', () => {
  const commands = splitPipeline(expandMacros('`soar_src_network(src_ip,src_network)`', macros).text).map((s) => parseCommand(s, false));
  const networkOf = (ip: string): Value => runPipeline(commands, [new Map<string, Value>([['src_ip', ip]])], { now: 0 })[0]!.get('src_network') ?? null;

  it('gives the /64 of any spelling of an IPv6 address (compressed, full, leading zeros, upper case)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constant(0)), { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 3 }), (parts, style) => {
        const a = new ipaddr.IPv6(parts);
        const leadingZeros = parts.map((p) => p.toString(16).padStart(4, '0')).join(':');
        const text = [a.toString(), a.toNormalizedString(), leadingZeros, a.toString().toUpperCase()][style]!;
        fc.pre(text !== '::');
        assert.equal(networkOf(text), `${parts.slice(0, 4).map((p) => p.toString(16)).join(':')}::/64`, text);
      }),
      { numRuns: 2000 },
    );
    assert.equal(networkOf('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(networkOf('::1'), '0:0:0:0::/64');
    assert.equal(networkOf('2001:db8:a:b:c::'), '2001:db8:a:b::/64');
  });

  it('gives the /24 of an IPv4 address, and nothing for an IPv4-mapped IPv6 or a host name', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        assert.equal(networkOf(ip), `${ip.split('.').slice(0, 3).join('.')}.0/24`);
      }),
    );
    assert.equal(networkOf('::ffff:203.0.113.9'), null);
    assert.equal(networkOf('n219076184117.netvigator.com'), null);
  });
});
