import type { AccountProfile } from './accounts';
import {
  attackerAddress,
  ipv6Host,
  ipv6Network,
  CLASSIC_SCRIPT_IPV4,
  sourceNetwork,
  type AddressFamily,
} from './addresses';
import type { Rng } from './prng';

/**
 * One authentication attempt as the target host saw it. Scenarios produce these (who, when,
 * outcome); formats turn each into one or more log lines. Keeping the two apart means every
 * scenario exists in every format, and the same seed gives the same attack in each.
 */
export interface AuthAttempt {
  /**
   * event time, epoch ms: on the scenario's timeline, which starts at ScenarioContext.startMs
   * (the run places that timeline: a backfill at its start, live sending re-stamps each
   * attempt with the moment it is written)
   */
  readonly timeMs: number;
  readonly srcIp: string;
  readonly srcPort: number;
  /** connection number, increasing through the run; sshd shows one pid per connection */
  readonly session: number;
  /** first attempt on this connection (sshd logs the PAM and "Invalid user" preamble once) */
  readonly opensSession: boolean;
  /** how the client leaves after this attempt; null = it keeps the connection */
  readonly closes: SessionEnd | null;
  readonly user: string;
  readonly userExists: boolean;
  readonly outcome: 'failure' | 'success';
  readonly method: 'password' | 'publickey';
  /** identical consecutive failures this attempt stands for (syslog collapses them: "message repeated N times") */
  readonly repeat: number;
  /** the client's self-reported name (Windows WorkstationName); attack tools randomise it */
  readonly client: string;
}

/** closed: "Connection closed by IP [preauth]"; bye: "Received disconnect … Bye Bye"; too-many: sshd hit MaxAuthTries */
export type SessionEnd = 'closed' | 'bye' | 'too-many';

export interface ScenarioContext {
  readonly rng: Rng;
  /** epoch ms of the first event */
  readonly startMs: number;
  readonly family: AddressFamily;
  readonly accounts: AccountProfile;
}

export type ScenarioName =
  | 'fast-bruteforce'
  | 'slow-bruteforce'
  | 'password-spray'
  | 'distributed'
  | 'success-after-failures'
  | 'benign'
  | 'classic-script';

export interface Scenario {
  readonly name: ScenarioName;
  readonly description: string;
  /** an endless stream; the run decides how many lines to take */
  attempts(ctx: ScenarioContext): Iterator<AuthAttempt>;
}

/** sshd's default MaxAuthTries: the server drops the connection after this many failures */
const MAX_AUTH_TRIES = 6;
const TOOL_NAME_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** 16 random alphanumerics, like the WorkstationName values of the DeepBlueCLI 4625 capture */
function randomClientName(rng: Rng): string {
  let name = '';
  for (let i = 0; i < 16; i++) name += TOOL_NAME_CHARS[rng.int(0, TOOL_NAME_CHARS.length - 1)];
  return name;
}

function ephemeralPort(rng: Rng): number {
  return rng.int(32768, 60999);
}

function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    const tmp = out[i] as T;
    out[i] = out[j] as T;
    out[j] = tmp;
  }
  return out;
}

/** Builds attempts on a shared timeline with increasing connection numbers. */
class Timeline {
  timeMs: number;
  private session = 0;
  constructor(
    startMs: number,
    private readonly accounts: AccountProfile,
  ) {
    this.timeMs = startMs;
  }
  openSession(): number {
    return ++this.session;
  }
  advance(ms: number): void {
    this.timeMs += Math.round(ms);
  }
  attempt(
    session: number,
    fields: {
      srcIp: string;
      srcPort: number;
      opensSession: boolean;
      closes: SessionEnd | null;
      user: string;
      outcome: 'failure' | 'success';
      method?: 'password' | 'publickey';
      repeat?: number;
      client: string;
      /** overrides the account profile (the seed's users are its target's accounts whatever the platform) */
      userExists?: boolean;
    },
  ): AuthAttempt {
    return {
      timeMs: this.timeMs,
      session,
      srcIp: fields.srcIp,
      srcPort: fields.srcPort,
      opensSession: fields.opensSession,
      closes: fields.closes,
      user: fields.user,
      userExists: fields.userExists ?? this.accounts.existing.has(fields.user),
      outcome: fields.outcome,
      method: fields.method ?? 'password',
      repeat: fields.repeat ?? 1,
      client: fields.client,
    };
  }
}

function quitStyle(rng: Rng): SessionEnd {
  return rng.chance(0.5) ? 'closed' : 'bye';
}

/**
 * One connection's worth of failed guesses for one user: `tries` attempts, sshd cutting the
 * connection at MaxAuthTries. With probability `repeatChance` the connection is a single
 * syslog-collapsed run of identical failures instead.
 */
function* failedSession(
  rng: Rng,
  tl: Timeline,
  srcIp: string,
  client: string,
  user: string,
  tries: number,
  gapMs: () => number,
  repeatChance: number,
): Generator<AuthAttempt> {
  const session = tl.openSession();
  const srcPort = ephemeralPort(rng);
  if (rng.chance(repeatChance)) {
    const repeat = rng.int(3, MAX_AUTH_TRIES);
    yield tl.attempt(session, { srcIp, srcPort, opensSession: true, closes: repeat === MAX_AUTH_TRIES ? 'too-many' : quitStyle(rng), user, outcome: 'failure', repeat, client });
    tl.advance(gapMs());
    return;
  }
  for (let i = 0; i < tries; i++) {
    const last = i === tries - 1;
    const closes: SessionEnd | null = last ? (tries === MAX_AUTH_TRIES ? 'too-many' : quitStyle(rng)) : null;
    yield tl.attempt(session, { srcIp, srcPort, opensSession: i === 0, closes, user, outcome: 'failure', client });
    tl.advance(gapMs());
  }
}

/** One IP, a few popular accounts, a guess every 0.2-2 s: the pattern a "> 10 failures in 15 min" search catches. */
function* fastBruteforce(ctx: ScenarioContext): Generator<AuthAttempt> {
  const { rng, accounts } = ctx;
  const tl = new Timeline(ctx.startMs, accounts);
  const srcIp = attackerAddress(rng, ctx.family);
  const client = randomClientName(rng);
  for (;;) {
    const user = rng.pick(accounts.bruteForceTargets);
    yield* failedSession(rng, tl, srcIp, client, user, rng.int(1, MAX_AUTH_TRIES), () => rng.int(200, 2000), 0.08);
    tl.advance(rng.int(100, 800));
  }
}

/** 15 min / 10 = 90 s; a little more so that at most 10 guesses fall in any 15-minute window */
const SLOW_MIN_GAP_MS = 95_000;

/**
 * One IP, one guess per connection every 95-240 s: never more than 10 in any 15 minutes, so a
 * "> 10 failures in 15 min" search misses it while an hourly window (~20 per hour) does not.
 */
function* slowBruteforce(ctx: ScenarioContext): Generator<AuthAttempt> {
  const { rng, accounts } = ctx;
  const tl = new Timeline(ctx.startMs, accounts);
  const srcIp = attackerAddress(rng, ctx.family);
  const client = randomClientName(rng);
  for (;;) {
    const user = rng.pick(accounts.bruteForceTargets);
    yield* failedSession(rng, tl, srcIp, client, user, 1, () => rng.int(SLOW_MIN_GAP_MS, 240_000), 0);
  }
}

/** One IP, one guess for each of many names (mostly non-existent: user enumeration), rounds separated by pauses. */
function* passwordSpray(ctx: ScenarioContext): Generator<AuthAttempt> {
  const { rng, accounts } = ctx;
  const tl = new Timeline(ctx.startMs, accounts);
  const srcIp = attackerAddress(rng, ctx.family);
  const client = randomClientName(rng);
  for (;;) {
    for (const user of shuffled(rng, accounts.sprayList)) {
      yield* failedSession(rng, tl, srcIp, client, user, 1, () => rng.int(500, 4000), 0);
    }
    tl.advance(rng.int(30_000, 120_000));
  }
}

/** Many hosts of one documentation /24 or /64, each only a few guesses: per-IP counts stay low, the network's are high. */
function* distributed(ctx: ScenarioContext): Generator<AuthAttempt> {
  const { rng, accounts } = ctx;
  const tl = new Timeline(ctx.startMs, accounts);
  const network = sourceNetwork(rng, ctx.family, rng.int(40, 120));
  const clients = network.hosts.map(() => randomClientName(rng));
  // The bots take turns (a shuffled rotation, as coordinated botnets do), so no host bunches up.
  const order = shuffled(rng, network.hosts.map((_, i) => i));
  const gapMs = Math.ceil(400_000 / network.hosts.length);
  for (let turn = 0; ; turn++) {
    const bot = order[turn % order.length] as number;
    const user = rng.pick(accounts.bruteForceTargets);
    yield* failedSession(rng, tl, network.hosts[bot] as string, clients[bot] as string, user, rng.int(1, 3), () => rng.int(500, 2000), 0);
    // Slow enough that no single host passes the per-address threshold (10 in 15 minutes):
    // a host's turn comes back after at least 400 s, so at most 3 sessions of at most 3 guesses
    // fall into any 15 minutes (hence no "message repeated" lines here: one counts up to 6). Together the network passes it, which is what the distributed
    // detection is for.
    tl.advance(rng.int(gapMs, 2 * gapMs));
  }
}

/** Seed 000's shape: 5-20 failures 0.1-0.5 s apart against one existing account, then the password works. */
function* successAfterFailures(ctx: ScenarioContext): Generator<AuthAttempt> {
  const { rng, accounts } = ctx;
  const tl = new Timeline(ctx.startMs, accounts);
  const victims = accounts.bruteForceTargets.filter((u) => accounts.existing.has(u));
  for (;;) {
    const srcIp = attackerAddress(rng, ctx.family);
    const client = randomClientName(rng);
    const user = rng.pick(victims);
    let failures = rng.int(5, 20);
    while (failures > 0) {
      const tries = Math.min(failures, MAX_AUTH_TRIES);
      yield* failedSession(rng, tl, srcIp, client, user, tries, () => rng.int(100, 500), 0);
      failures -= tries;
    }
    const session = tl.openSession();
    yield tl.attempt(session, { srcIp, srcPort: ephemeralPort(rng), opensSession: true, closes: null, user, outcome: 'success', client });
    tl.advance(rng.int(5_000, 10_000));
  }
}

/** Normal logins from staff addresses, mostly by key; now and then a mistyped password that succeeds on the second try. */
function* benign(ctx: ScenarioContext): Generator<AuthAttempt> {
  const { rng, accounts } = ctx;
  const tl = new Timeline(ctx.startMs, accounts);
  const office6 = ipv6Network(rng, accounts.legitimateUsers.length);
  const homes = accounts.legitimateUsers.map((user, i) => {
    const v6 = ctx.family === 'ipv6' || (ctx.family === 'any' && rng.chance(0.3));
    const v4 = rng.chance(0.6) ? `10.20.${rng.int(0, 255)}.${rng.int(1, 254)}` : `198.51.100.${rng.int(1, 254)}`;
    return { user, srcIp: v6 ? (office6.hosts[i] as string) : v4, client: `WS-${user.toUpperCase()}` };
  });
  for (;;) {
    const who = rng.pick(homes);
    const session = tl.openSession();
    const srcPort = ephemeralPort(rng);
    const method = rng.chance(0.6) ? 'publickey' : 'password';
    if (method === 'password' && rng.chance(0.15)) {
      yield tl.attempt(session, { srcIp: who.srcIp, srcPort, opensSession: true, closes: null, user: who.user, outcome: 'failure', client: who.client });
      tl.advance(rng.int(2_000, 8_000));
      yield tl.attempt(session, { srcIp: who.srcIp, srcPort, opensSession: false, closes: null, user: who.user, outcome: 'success', client: who.client });
    } else {
      yield tl.attempt(session, { srcIp: who.srcIp, srcPort, opensSession: true, closes: null, user: who.user, outcome: 'success', method, client: who.client });
    }
    tl.advance(rng.int(5_000, 90_000));
  }
}

/** The classic lab script's TARGET_USERS (seed 000's generator). */
export const CLASSIC_SCRIPT_USERS: readonly string[] = ['admin', 'root', 'service_account', 'jdoe'];

/**
 * The classic lab script (seed 000's generator) as written: its ATTACKER_IPS and TARGET_USERS,
 * 5-20 failures 0.1-0.5 s apart (one connection each), 10 % success, 5-10 s pauses. Its users
 * count as existing accounts on any platform, as the script treats them.
 */
function* classicScript(ctx: ScenarioContext): Generator<AuthAttempt> {
  const { rng, accounts } = ctx;
  const tl = new Timeline(ctx.startMs, accounts);
  for (;;) {
    const srcIp = ctx.family === 'ipv6' ? ipv6Host(rng) : rng.pick(CLASSIC_SCRIPT_IPV4);
    const client = randomClientName(rng);
    const user = rng.pick(CLASSIC_SCRIPT_USERS);
    const failures = rng.int(5, 20);
    for (let i = 0; i < failures; i++) {
      const session = tl.openSession();
      yield tl.attempt(session, { srcIp, srcPort: ephemeralPort(rng), opensSession: true, closes: quitStyle(rng), user, outcome: 'failure', client, userExists: true });
      tl.advance(rng.int(100, 500));
    }
    if (rng.chance(0.1)) {
      const session = tl.openSession();
      yield tl.attempt(session, { srcIp, srcPort: ephemeralPort(rng), opensSession: true, closes: null, user, outcome: 'success', client, userExists: true });
    }
    tl.advance(rng.int(5_000, 10_000));
  }
}

export const SCENARIOS: Readonly<Record<ScenarioName, Scenario>> = {
  'fast-bruteforce': { name: 'fast-bruteforce', description: 'one address, popular accounts, a guess every 0.2-2 s', attempts: fastBruteforce },
  'slow-bruteforce': { name: 'slow-bruteforce', description: 'one address, one guess every 95-240 s (at most 10 in any 15 minutes)', attempts: slowBruteforce },
  'password-spray': { name: 'password-spray', description: 'one address, one guess for each of many user names (user enumeration)', attempts: passwordSpray },
  distributed: { name: 'distributed', description: 'many hosts of one documentation network (an RFC 5737 /24, or an IPv6 /64 in 2001:db8::/32), a few guesses each', attempts: distributed },
  'success-after-failures': { name: 'success-after-failures', description: '5-20 failures against one account, then a successful login', attempts: successAfterFailures },
  benign: { name: 'benign', description: 'normal staff logins (mostly public key, from 10.20.x.x and 198.51.100.x) with an occasional mistyped password', attempts: benign },
  'classic-script': {
    name: 'classic-script',
    description: 'the classic lab script: 4 fixed attacker addresses (3 private, 1 documentation), users admin/root/service_account/jdoe, 5-20 failures, 10 % success',
    attempts: classicScript,
  },
};

export const SCENARIO_NAMES = Object.keys(SCENARIOS) as ScenarioName[];

/** Names older command lines used; still accepted, not listed. */
const SCENARIO_ALIASES: Readonly<Record<string, ScenarioName>> = { 'seed-guide': 'classic-script' };

/** The scenario a name (or an old alias) stands for; null when there is none. */
export function scenarioNamed(name: string): ScenarioName | null {
  if ((SCENARIO_NAMES as string[]).includes(name)) return name as ScenarioName;
  return Object.prototype.hasOwnProperty.call(SCENARIO_ALIASES, name) ? (SCENARIO_ALIASES[name] as ScenarioName) : null;
}

/**
 * Scenarios whose addresses no reputation service knows (documentation and private ranges,
 * whatever --family asks), so their incidents enrich to nothing. Every IPv6 address the
 * generator writes is documentation space (2001:db8::/32) too.
 */
export const NEVER_ENRICHED_SCENARIOS: readonly ScenarioName[] = ['distributed', 'benign', 'classic-script'];
