import assert from 'node:assert/strict';
import ipaddr from 'ipaddr.js';
import { LINUX_ACCOUNTS, WINDOWS_ACCOUNTS, type AccountProfile } from '../../src/generator/accounts';
import { IPV4_DOCUMENTATION_NETWORKS, KNOWN_BAD_IPV4, type AddressFamily } from '../../src/generator/addresses';
import { createRng } from '../../src/generator/prng';
import { NEVER_ENRICHED_SCENARIOS, SCENARIO_NAMES, scenarioNamed, SCENARIOS, type AuthAttempt, type ScenarioName } from '../../src/generator/scenarios';

const START = Date.UTC(2024, 4, 1, 12, 0, 0);
const DOC_V6 = ipaddr.parseCIDR('2001:db8::/32');
const KNOWN_BAD = new Set(KNOWN_BAD_IPV4.map((k) => k.ip));

function attempts(name: ScenarioName, n: number, seed: number | string = 1, family: AddressFamily = 'any', accounts: AccountProfile = LINUX_ACCOUNTS): AuthAttempt[] {
  const it = SCENARIOS[name].attempts({ rng: createRng(seed), startMs: START, family, accounts });
  const out: AuthAttempt[] = [];
  while (out.length < n) out.push(it.next().value as AuthAttempt);
  return out;
}

/** attempts a failure stands for, a collapsed "message repeated" run counting each */
const failures = (list: AuthAttempt[]): number => list.filter((a) => a.outcome === 'failure').reduce((s, a) => s + a.repeat, 0);

function maxInWindow(list: AuthAttempt[], windowMs: number): number {
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < list.length; hi++) {
    while ((list[hi] as AuthAttempt).timeMs - (list[lo] as AuthAttempt).timeMs >= windowMs) lo++;
    best = Math.max(best, failures(list.slice(lo, hi + 1)));
  }
  return best;
}

function isDocV6(ip: string): boolean {
  const a = ipaddr.parse(ip);
  return a.kind() === 'ipv6' && a.match(DOC_V6);
}

describe('scenarios', () => {
  it('are deterministic per seed, start at the start time and never go back in time', () => {
    for (const name of SCENARIO_NAMES) {
      for (const accounts of [LINUX_ACCOUNTS, WINDOWS_ACCOUNTS]) {
        for (const x of attempts(name, 2_000, 'accounts', 'any', accounts)) {
          assert.ok(x.userExists || x.outcome === 'failure', `${name}/${accounts.platform}: a success needs an existing account (${x.user})`);
        }
      }
      const a = attempts(name, 500, 'same');
      assert.deepEqual(attempts(name, 500, 'same'), a, name);
      assert.notDeepEqual(attempts(name, 500, 'other'), a, name);
      assert.equal((a[0] as AuthAttempt).timeMs, START, name);
      for (let i = 1; i < a.length; i++) assert.ok((a[i] as AuthAttempt).timeMs >= (a[i - 1] as AuthAttempt).timeMs, name);
      for (const x of a) assert.ok(x.srcPort >= 1024 && x.srcPort <= 65535);
    }
  });

  it('keep to the asked address family', () => {
    for (const name of SCENARIO_NAMES) {
      for (const a of attempts(name, 300, 2, 'ipv6')) assert.ok(isDocV6(a.srcIp), `${name}: ${a.srcIp}`);
      for (const a of attempts(name, 300, 2, 'ipv4')) assert.equal(ipaddr.parse(a.srcIp).kind(), 'ipv4', `${name}: ${a.srcIp}`);
    }
  });

  it('fast-bruteforce: one known-bad address, more than 10 failures within the first 15 minutes, guesses 0.1-2.8 s apart', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const list = attempts('fast-bruteforce', 300, seed, 'ipv4');
      const sources = new Set(list.map((a) => a.srcIp));
      assert.equal(sources.size, 1);
      assert.ok(KNOWN_BAD.has([...sources][0] as string));
      assert.ok(list.every((a) => a.outcome === 'failure'));
      assert.ok(failures(list.filter((a) => a.timeMs < START + 15 * 60_000)) > 10);
      for (let i = 1; i < list.length; i++) {
        const gap = (list[i] as AuthAttempt).timeMs - (list[i - 1] as AuthAttempt).timeMs;
        assert.ok(gap >= 100 && gap <= 2_800, `gap ${gap}`);
      }
    }
  });

  it('slow-bruteforce: never more than 10 failures in any 15 minutes, yet 15 or more per hour', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const list = attempts('slow-bruteforce', 200, seed);
      assert.equal(new Set(list.map((a) => a.srcIp)).size, 1);
      assert.ok(maxInWindow(list, 15 * 60_000) <= 10);
      const hours = ((list[list.length - 1] as AuthAttempt).timeMs - START) / 3_600_000;
      assert.ok(failures(list) / hours >= 15, `${(failures(list) / hours).toFixed(1)} per hour`);
    }
  });

  it('password-spray: one address, a different name almost every guess, mostly names that do not exist', () => {
    for (const accounts of [LINUX_ACCOUNTS, WINDOWS_ACCOUNTS]) {
      const list = attempts('password-spray', accounts.sprayList.length, 4, 'any', accounts);
      assert.equal(new Set(list.map((a) => a.srcIp)).size, 1);
      assert.equal(new Set(list.map((a) => a.user)).size, new Set(accounts.sprayList).size, 'each listed name once per round');
      const invalid = list.filter((a) => !a.userExists).length;
      assert.ok(invalid / list.length > 0.45, `${invalid} of ${list.length} invalid`);
    }
  });

  it('distributed: many hosts of one documentation /24 or one /64 in 2001:db8::/32, each with few guesses', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const list = attempts('distributed', 1_000, seed);
      const sources = new Map<string, number>();
      for (const a of list) sources.set(a.srcIp, (sources.get(a.srcIp) ?? 0) + a.repeat);
      assert.ok(sources.size >= 30, `${sources.size} sources`);
      const ips = [...sources.keys()];
      if (ipaddr.parse(ips[0] as string).kind() === 'ipv4') {
        const net = IPV4_DOCUMENTATION_NETWORKS.find((cidr) => ipaddr.parse(ips[0] as string).match(ipaddr.parseCIDR(cidr)));
        assert.ok(net !== undefined, `${ips[0]} in a documentation network`);
        for (const ip of ips) assert.ok(ipaddr.parse(ip).match(ipaddr.parseCIDR(net)), `${ip} in ${net}`);
      } else {
        const net64 = ipaddr.parseCIDR(`${ips[0]}/64`);
        for (const ip of ips) {
          assert.ok(isDocV6(ip));
          assert.ok(ipaddr.parse(ip).match([net64[0], 64]), `${ip} shares the /64`);
        }
      }
      const busiest = Math.max(...sources.values());
      assert.ok(busiest < failures(list) / 10, `busiest host ${busiest} of ${failures(list)}`);
      // What the distributed detection exists for: in any 15 minutes no host passes the SSH
      // brute-force threshold (more than 10), while the network as a whole passes the distributed
      // detection's 20 twice over.
      const perHost = new Map<string, AuthAttempt[]>();
      for (const a of list) perHost.set(a.srcIp, [...(perHost.get(a.srcIp) ?? []), a]);
      const worstHost = Math.max(...[...perHost.values()].map((l) => maxInWindow(l, 15 * 60_000)));
      assert.ok(worstHost <= 10, `seed ${seed}: one host failed ${worstHost} times in 15 minutes`);
      assert.ok(maxInWindow(list, 15 * 60_000) > 40, `seed ${seed}: the network failed ${maxInWindow(list, 15 * 60_000)} times in 15 minutes`);
    }
  });

  it('success-after-failures: every success follows 5-20 failures from the same address against the same account', () => {
    const list = attempts('success-after-failures', 3_000, 5);
    let run: AuthAttempt[] = [];
    let successes = 0;
    for (const a of list) {
      if (a.outcome === 'failure') {
        run.push(a);
        continue;
      }
      successes++;
      assert.ok(run.length >= 5 && run.length <= 20, `${run.length} failures before success`);
      assert.ok(run.every((f) => f.srcIp === a.srcIp && f.user === a.user));
      assert.ok(a.userExists);
      run = [];
    }
    assert.ok(successes > 100);
  });

  it('benign: mostly successful logins; a mistyped password is followed by a success for the same person within 10 s', () => {
    const list = attempts('benign', 3_000, 6);
    const ok = list.filter((a) => a.outcome === 'success').length;
    assert.ok(ok / list.length > 0.9, `${ok} of ${list.length}`);
    assert.ok(list.some((a) => a.method === 'publickey') && list.some((a) => a.method === 'password'));
    let typos = 0;
    list.forEach((a, i) => {
      if (a.outcome !== 'failure') return;
      typos++;
      const next = list[i + 1] as AuthAttempt;
      assert.equal(next.outcome, 'success');
      assert.equal(next.user, a.user);
      assert.equal(next.srcIp, a.srcIp);
      assert.ok(next.timeMs - a.timeMs <= 10_000);
    });
    assert.ok(typos > 10, `${typos} typos`);
    for (const a of list) {
      const addr = ipaddr.parse(a.srcIp);
      const fine = addr.kind() === 'ipv6' ? isDocV6(a.srcIp) : addr.match(ipaddr.parseCIDR('10.20.0.0/16')) || addr.match(ipaddr.parseCIDR('198.51.100.0/24'));
      assert.ok(fine, a.srcIp);
      assert.ok(!KNOWN_BAD.has(a.srcIp));
    }
  });

  it('classic-script: 5-20 failures per round and about 10 % of rounds end in a success', () => {
    const list = attempts('classic-script', 20_000, 8, 'ipv4');
    let rounds = 0;
    let successes = 0;
    let run = 0;
    let last: AuthAttempt | null = null;
    for (const a of list) {
      const newRound = last !== null && (a.srcIp !== last.srcIp || a.user !== last.user || a.timeMs - last.timeMs >= 5_000);
      if (newRound || a.outcome === 'success') {
        if (run > 0) {
          assert.ok(run >= 5 && run <= 20, `${run} failures in a round`);
          rounds++;
        }
        run = 0;
      }
      if (a.outcome === 'success') successes++;
      else run++;
      last = a;
    }
    assert.ok(rounds > 1_000);
    assert.ok(successes / rounds > 0.07 && successes / rounds < 0.13, `${successes} successes in ${rounds} rounds`);
  });

  it('classic-script is also known by its old name seed-guide, which is not listed', () => {
    assert.equal(scenarioNamed('seed-guide'), 'classic-script');
    assert.equal(scenarioNamed('classic-script'), 'classic-script');
    assert.equal(scenarioNamed('fast-bruteforce'), 'fast-bruteforce');
    assert.equal(scenarioNamed('toString'), null);
    assert.equal(scenarioNamed('nope'), null);
    assert.ok(!(SCENARIO_NAMES as string[]).includes('seed-guide'));
    for (const name of SCENARIO_NAMES) assert.doesNotMatch(SCENARIOS[name].description, /\bseed\b/i, `${name}: a user cannot look up "the seed"`);
  });

  it('with IPv4 every scenario sends only known-bad public addresses, except the ones listed as never enriched, which send none', () => {
    for (const name of SCENARIO_NAMES) {
      for (let seed = 1; seed <= 5; seed++) {
        const known = attempts(name, 300, seed, 'ipv4').map((a) => KNOWN_BAD.has(a.srcIp));
        if (NEVER_ENRICHED_SCENARIOS.includes(name)) assert.ok(known.every((k) => !k), `${name}: no known-bad address`);
        else assert.ok(known.every((k) => k), `${name}: only known-bad addresses`);
      }
    }
    for (const a of attempts('classic-script', 2_000, 3, 'ipv4')) {
      const range = ipaddr.parse(a.srcIp).range();
      assert.ok(range === 'private' || IPV4_DOCUMENTATION_NETWORKS.some((n) => ipaddr.parse(a.srcIp).match(ipaddr.parseCIDR(n))), `${a.srcIp} is ${range}`);
    }
  });

  it('attack scenarios use the known-bad corpus addresses when IPv4', () => {
    const used = new Set<string>();
    for (let seed = 1; seed <= 60; seed++) used.add((attempts('fast-bruteforce', 1, seed, 'ipv4')[0] as AuthAttempt).srcIp);
    for (const ip of ['183.62.140.253', '187.141.143.180', '138.128.150.133', '118.25.6.39']) assert.ok(used.has(ip), `${ip} used`);
  });
});
