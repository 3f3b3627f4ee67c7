/**
 * sshd auth.log analysis: a per-line classifier (pure given its clock) and an incremental
 * analyzer that turns classified lines into failed-login totals and brute-force windows.
 *
 * The classifier is on the hot path of multi-gigabyte logs: it checks fixed header positions
 * and the "sshd" tag with charCodeAt before anything else, runs one precompiled sticky regex
 * chosen by the message's first character, and allocates nothing for lines it ignores.
 */
import { LogClock } from './log-clock';
import { BruteForceOptions, FailureAggregator, FailureSummary } from './bruteforce';

export type AuthEventKind =
  /** "Failed <method> for [invalid user] U from A port P ssh2" */
  | 'failed'
  /** "Accepted <method> for U from A port P ssh2" */
  | 'accepted'
  /** "Invalid user U from A [port P]" */
  | 'invalid_user'
  /** "pam_unix(sshd:auth): authentication failure; ... rhost=R [user=U]", "PAM N more authentication failures" */
  | 'pam_failure'
  /** "maximum authentication attempts exceeded", "Disconnecting: Too many authentication failures" */
  | 'max_attempts'
  /** "Disconnected from / Connection closed by / Received disconnect from ... [preauth]" */
  | 'preauth_disconnect';

export interface AuthEvent {
  readonly kind: AuthEventKind;
  /** Epoch ms; NaN when the timestamp could not be read. */
  readonly timeMs: number;
  /** The syslog host field. */
  readonly host: string;
  readonly pid: number | null;
  /** Authentication method for failed/accepted ("password", "publickey", "none", "keyboard-interactive/pam"), else null. */
  readonly method: string | null;
  /** User name exactly as logged (may be empty or contain spaces); null when the line names none. */
  readonly user: string | null;
  /** sshd said "invalid user" / "illegal user": the account does not exist. */
  readonly invalidUser: boolean;
  /** Source IP, or for PAM a host name when rhost= holds one; null when absent. IPv4-mapped IPv6 is unwrapped. */
  readonly address: string | null;
  readonly port: number | null;
  /** Attempts this line stands for: N for "message repeated N times" and "PAM N more ...", else 1. */
  readonly count: number;
  /** Logged under the old RHEL "sshd(pam_unix)[pid]:" tag. */
  readonly legacyPamTag: boolean;
}

// Sticky regexes run from the message start without slicing the line. Greedy user captures
// followed by " from <addr> port <n>" take the last such tail, so user names containing
// spaces (or even " from ") are kept whole; the tails are short, so backtracking is bounded.
const RE_FAILED = /Failed (\S+) for ((?:invalid|illegal) user )?(.*) from (\S+) port (\d+)/y;
const RE_ACCEPTED = /Accepted (\S+) for (.*) from (\S+) port (\d+)/y;
const RE_INVALID_USER = /(?:Invalid|Illegal) user (.*) from (\S+?)(?: port (\d+))?\]?\s*$/y;
const RE_PAM_MODERN = /pam_[\w-]+\(sshd:auth\): authentication failure;/y;
const RE_PAM_LEGACY = /authentication failure;/y;
const RE_PAM_MORE = /(?:PAM )?(\d+) more authentication failures?;/y;
const RE_REPEATED = /message repeated (\d+) times: \[ ?/y;
const RE_MAX_ATTEMPTS =
  /maximum authentication attempts exceeded for (?:(invalid|illegal) user )?(.*) from (\S+) port (\d+)/y;
const RE_TOO_MANY_OLD = /Disconnecting: Too many authentication failures(?: for (?:(invalid|illegal) user )?(.*?))? ?\[preauth\]/y;
const RE_TOO_MANY_NEW =
  /Disconnecting (?:(invalid|authenticating) user (.*) )?(\S+) port (\d+): Too many authentication failures/y;
const RE_DISCONNECTED = /Disconnected from (?:(invalid|authenticating) user (.*) )?(\S+) port (\d+) \[preauth\]/y;
const RE_CLOSED_USER = /Connection (?:closed|reset) by (invalid|authenticating) user (.*) (\S+) port (\d+) \[preauth\]/y;
const RE_CLOSED = /Connection (?:closed|reset) by (\S+?)(?: port (\d+))? \[preauth\]/y;
const RE_RECEIVED_NEW = /Received disconnect from (\S+) port (\d+):/y;
const RE_RECEIVED_OLD = /Received disconnect from (\S+?):\s*\d+:/y;

const MAX_LINE_CHARS = 2048;

const CH_SPACE = 32;
const CH_COLON = 58;
const CH_LT = 60;
const CH_LPAREN = 40;
const CH_LBRACKET = 91;
const CH_RBRACKET = 93;
const CH_0 = 48;

/**
 * Classifies one auth.log line (with or without its line end). Returns null for every line
 * that is not one of the sshd events above. Reads classic syslog ("Dec  1 06:55:46 host ..."),
 * an optional "<PRI>" prefix, and RFC 3339 timestamps ("2024-03-01T12:34:56.123+01:00 host ...").
 */
export function classifyAuthLine(line: string, clock: LogClock): AuthEvent | null {
  if (!classifyInto(line, clock, scratch)) return null;
  fillOrigin(scratch);
  return copyEvent(scratch);
}

/** A fresh, independent copy of an event (the analyzer's hot path reuses one record). */
function copyEvent(e: AuthEvent): AuthEvent {
  return {
    kind: e.kind,
    timeMs: e.timeMs,
    host: e.host,
    pid: e.pid,
    method: e.method,
    user: e.user,
    invalidUser: e.invalidUser,
    address: e.address,
    port: e.port,
    count: e.count,
    legacyPamTag: e.legacyPamTag,
  };
}

type MutableAuthEvent = { -readonly [K in keyof AuthEvent]: AuthEvent[K] };

function blankEvent(): MutableAuthEvent {
  return {
    kind: 'failed',
    timeMs: NaN,
    host: '',
    pid: null,
    method: null,
    user: null,
    invalidUser: false,
    address: null,
    port: null,
    count: 1,
    legacyPamTag: false,
  };
}

// Filled by classifyMessage and copied out by classifyAuthLine, so a recognised line allocates
// only the returned event. Single-threaded and never held across calls.
const scratch = blankEvent();

// Where the host and tag of the line classifyInto last recognised are: host and pid are read
// from there only for events that are handed out (the summary needs neither).
let originLine = '';
let originHostStart = 0;
let originHostEnd = 0;
let originTagStart = 0;
let originTagEnd = 0;

/** Sets host and pid of the event classifyInto just recognised (into `out`). */
function fillOrigin(out: MutableAuthEvent): void {
  out.host = originTagStart === originHostStart ? '' : hostName(originLine, originHostStart, originHostEnd);
  out.pid = tagPid(originLine, originTagStart, originTagEnd);
}

/**
 * Fills `out` except host and pid (see fillOrigin) and returns true for a recognised line;
 * `out` is left in an unspecified state otherwise.
 */
function classifyInto(line: string, clock: LogClock, out: MutableAuthEvent): boolean {
  // sshd prints at most 100 characters of a user name and 200 of a host, so real lines are
  // short; refusing long ones bounds the regex backtracking an attacker could aim for.
  if (line.length > MAX_LINE_CHARS) return false;
  let base = 0;
  if (line.charCodeAt(0) === CH_LT) {
    const gt = line.indexOf('>', 1);
    if (gt < 0 || gt > 5) return false;
    base = gt + 1;
  }
  // Classic syslog "Mmm dd hh:mm:ss " is 16 characters; RFC 3339 runs to the first space.
  let hostStart: number;
  let iso: boolean;
  if (
    line.charCodeAt(base + 3) === CH_SPACE &&
    line.charCodeAt(base + 9) === CH_COLON &&
    line.charCodeAt(base + 12) === CH_COLON &&
    line.charCodeAt(base + 15) === CH_SPACE
  ) {
    hostStart = base + 16;
    iso = false;
  } else if (line.charCodeAt(base + 4) === 45 /* - */ && line.charCodeAt(base + 10) === 84 /* T */) {
    const sp = line.indexOf(' ', base + 11);
    if (sp < 0) return false;
    hostStart = sp + 1;
    iso = true;
  } else {
    return false;
  }
  const hostEnd = line.indexOf(' ', hostStart);
  if (hostEnd < 0) return false;
  let tagStart = hostEnd + 1;
  if (!isSshdTag(line, tagStart)) {
    // Some exporters omit the host field: the tag directly follows the timestamp.
    if (!isSshdTag(line, hostStart)) return false;
    tagStart = hostStart;
  }
  const tagEnd = line.indexOf(' ', tagStart);
  if (tagEnd < 0 || line.charCodeAt(tagEnd - 1) !== CH_COLON) return false;
  const msgStart = tagEnd + 1;
  let end = line.length;
  while (end > msgStart && line.charCodeAt(end - 1) <= CH_SPACE) end -= 1;
  const legacy = line.charCodeAt(tagStart + 4) === CH_LPAREN;

  target = out;
  if (!classifyMessage(line, msgStart, end, legacy)) return false;
  out.timeMs = iso ? isoTimeMs(line, base, clock) : syslogTimeMs(line, base, clock);
  out.legacyPamTag = legacy;
  originLine = line;
  originHostStart = hostStart;
  originHostEnd = hostEnd;
  originTagStart = tagStart;
  originTagEnd = tagEnd;
  return true;
}

// A log usually has one host: reuse its string instead of slicing it from every line.
let lastHost = '';
function hostName(line: string, start: number, end: number): string {
  if (end - start !== lastHost.length || !line.startsWith(lastHost, start)) lastHost = line.slice(start, end);
  return lastHost;
}

/** "sshd[", "sshd:", "sshd(pam_unix)[", "sshd-session[" (OpenSSH 9.8+). */
function isSshdTag(line: string, i: number): boolean {
  if (
    line.charCodeAt(i) !== 115 ||
    line.charCodeAt(i + 1) !== 115 ||
    line.charCodeAt(i + 2) !== 104 ||
    line.charCodeAt(i + 3) !== 100
  ) {
    return false;
  }
  const c = line.charCodeAt(i + 4);
  return c === CH_LBRACKET || c === CH_COLON || c === CH_LPAREN || c === 45 /* - */;
}

function tagPid(line: string, tagStart: number, tagEnd: number): number | null {
  const open = line.lastIndexOf('[', tagEnd);
  if (open < tagStart) return null;
  let pid = 0;
  let i = open + 1;
  for (let c = line.charCodeAt(i); c >= CH_0 && c <= CH_0 + 9; c = line.charCodeAt(++i)) pid = pid * 10 + (c - CH_0);
  return i > open + 1 && line.charCodeAt(i) === CH_RBRACKET ? pid : null;
}

/** The record classifyMessage writes into; set by classifyInto before each call. */
let target: MutableAuthEvent = scratch;

function fields(
  kind: AuthEventKind,
  method: string | null,
  user: string | null,
  invalidUser: boolean,
  address: string | null,
  port: string | undefined,
  count: number,
): true {
  const f = target;
  f.kind = kind;
  f.method = method;
  f.user = user;
  f.invalidUser = invalidUser;
  f.address = logAddress(address);
  f.port = port === undefined ? null : Number(port);
  f.count = count;
  return true;
}

/**
 * The source as the log names it: an IP literal (a dual-stack sshd's ::ffff: prefix
 * dropped) or a host name, so not the address parser's job; the summaries classify it
 * later (address-scope.ts).
 */
function logAddress(a: string | null): string | null {
  if (a === null || a === '') return null;
  return a.startsWith('::ffff:') && a.indexOf('.') > 0 ? a.slice(7) : a;
}

function endsWithPreauth(line: string, end: number): boolean {
  return line.startsWith('[preauth]', end - 9) || line.startsWith('[preauth]]', end - 10);
}

/** Dispatch on the message's first character; `end` excludes trailing whitespace / CR. */
function classifyMessage(line: string, start: number, end: number, legacy: boolean): boolean {
  let m: RegExpExecArray | null;
  switch (line.charCodeAt(start)) {
    case 70: // F
      RE_FAILED.lastIndex = start;
      if ((m = RE_FAILED.exec(line)) === null) return false;
      return fields('failed', m[1]!, m[3]!, m[2] !== undefined, m[4]!, m[5], 1);
    case 65: // A
      RE_ACCEPTED.lastIndex = start;
      if ((m = RE_ACCEPTED.exec(line)) === null) return false;
      return fields('accepted', m[1]!, m[2]!, false, m[3]!, m[4], 1);
    case 73: // I
      RE_INVALID_USER.lastIndex = start;
      if ((m = RE_INVALID_USER.exec(line)) === null) return false;
      return fields('invalid_user', null, m[1]!, true, m[2]!, m[3], 1);
    case 112: // p
      RE_PAM_MODERN.lastIndex = start;
      if (!RE_PAM_MODERN.test(line)) return false;
      return pamFields(line, RE_PAM_MODERN.lastIndex, end, 1);
    case 97: // a
      if (!legacy) return false;
      RE_PAM_LEGACY.lastIndex = start;
      if (!RE_PAM_LEGACY.test(line)) return false;
      return pamFields(line, RE_PAM_LEGACY.lastIndex, end, 1);
    case 80: // P
    case 49: case 50: case 51: case 52: case 53: case 54: case 55: case 56: case 57: // 1-9
      RE_PAM_MORE.lastIndex = start;
      if ((m = RE_PAM_MORE.exec(line)) === null) return false;
      return pamFields(line, RE_PAM_MORE.lastIndex, end, Number(m[1]));
    case 109: // m
      RE_REPEATED.lastIndex = start;
      if ((m = RE_REPEATED.exec(line)) !== null) {
        const times = Number(m[1]);
        if (!classifyMessage(line, RE_REPEATED.lastIndex, line.charCodeAt(end - 1) === CH_RBRACKET ? end - 1 : end, legacy)) return false;
        target.count *= times;
        return true;
      }
      return maxAttempts(line, start);
    case 101: // e
      if (line.startsWith('error: ', start)) return classifyMessage(line, start + 7, end, legacy);
      return false;
    case 68: // D
      if (line.startsWith('Disconnecting:', start)) {
        RE_TOO_MANY_OLD.lastIndex = start;
        if ((m = RE_TOO_MANY_OLD.exec(line)) === null) return false;
        return fields('max_attempts', null, m[2] ?? null, m[1] !== undefined, null, undefined, 1);
      }
      RE_TOO_MANY_NEW.lastIndex = start;
      if ((m = RE_TOO_MANY_NEW.exec(line)) !== null) {
        return fields('max_attempts', null, m[2] ?? null, m[1] === 'invalid', m[3]!, m[4], 1);
      }
      RE_DISCONNECTED.lastIndex = start;
      if ((m = RE_DISCONNECTED.exec(line)) === null) return false;
      return fields('preauth_disconnect', null, m[2] ?? null, m[1] === 'invalid', m[3]!, m[4], 1);
    case 67: // C
      if (!endsWithPreauth(line, end)) return false;
      {
        const by = line.indexOf(' by ', start) + 4;
        if (line.startsWith('invalid user ', by) || line.startsWith('authenticating user ', by)) {
          RE_CLOSED_USER.lastIndex = start;
          if ((m = RE_CLOSED_USER.exec(line)) === null) return false;
          return fields('preauth_disconnect', null, m[2]!, m[1] === 'invalid', m[3]!, m[4], 1);
        }
      }
      RE_CLOSED.lastIndex = start;
      if ((m = RE_CLOSED.exec(line)) === null) return false;
      return fields('preauth_disconnect', null, null, false, m[1]!, m[2], 1);
    case 82: // R
      if (!endsWithPreauth(line, end)) return false;
      // The OpenSSH 7+ form needs " port " after the address; the old one (most of the
      // loghub sample) is tried at once when the line has none.
      if (line.indexOf(' port ', start) >= 0) {
        RE_RECEIVED_NEW.lastIndex = start;
        if ((m = RE_RECEIVED_NEW.exec(line)) !== null) {
          return fields('preauth_disconnect', null, null, false, m[1]!, m[2], 1);
        }
      }
      RE_RECEIVED_OLD.lastIndex = start;
      if ((m = RE_RECEIVED_OLD.exec(line)) === null) return false;
      return fields('preauth_disconnect', null, null, false, m[1]!, undefined, 1);
    default:
      return false;
  }
}

function maxAttempts(line: string, start: number): boolean {
  RE_MAX_ATTEMPTS.lastIndex = start;
  const m = RE_MAX_ATTEMPTS.exec(line);
  if (m === null) return false;
  return fields('max_attempts', null, m[2]!, m[1] !== undefined, m[3]!, m[4], 1);
}

/** PAM key=value tail: "logname= uid=0 euid=0 tty=ssh ruser= rhost=HOST  user=NAME". */
function pamFields(line: string, from: number, end: number, count: number): true {
  let address: string | null = null;
  const r = line.indexOf(' rhost=', from);
  let userSearch = from;
  if (r >= 0 && r < end) {
    const vStart = r + 7;
    let vEnd = line.indexOf(' ', vStart);
    if (vEnd < 0 || vEnd > end) vEnd = end;
    if (vEnd > vStart) address = line.slice(vStart, vEnd);
    userSearch = vEnd;
  }
  let user: string | null = null;
  const u = line.indexOf(' user=', userSearch);
  if (u >= 0 && u < end) user = line.slice(u + 6, end);
  return fields('pam_failure', null, user, false, address, undefined, count);
}

/** Month 1-12 of monthKey("Jan") ... monthKey("Dec"), else 0 (a switch: cheaper than a Map per line). */
function monthOf(key: number): number {
  switch (key) {
    case 0x6a616e: return 1;
    case 0x666562: return 2;
    case 0x6d6172: return 3;
    case 0x617072: return 4;
    case 0x6d6179: return 5;
    case 0x6a756e: return 6;
    case 0x6a756c: return 7;
    case 0x617567: return 8;
    case 0x736570: return 9;
    case 0x6f6374: return 10;
    case 0x6e6f76: return 11;
    case 0x646563: return 12;
    default: return 0;
  }
}

function monthKey(s: string, i: number): number {
  return ((s.charCodeAt(i) | 32) << 16) | ((s.charCodeAt(i + 1) | 32) << 8) | (s.charCodeAt(i + 2) | 32);
}

function digits(line: string, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const d = line.charCodeAt(i + k) - CH_0;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  return v;
}

/** "Dec 10 06:55:46" or "Dec  1 06:55:46" (day padded with a space). */
function syslogTimeMs(line: string, b: number, clock: LogClock): number {
  const month = monthOf(monthKey(line, b));
  if (month === 0) return NaN;
  const day = line.charCodeAt(b + 4) === CH_SPACE ? digits(line, b + 5, 1) : digits(line, b + 4, 2);
  const h = digits(line, b + 7, 2);
  const mi = digits(line, b + 10, 2);
  const s = digits(line, b + 13, 2);
  if (!(day >= 1 && day <= 31 && h <= 23 && mi <= 59 && s <= 60)) return NaN;
  return clock.yearlessToEpochMs(month, day, h, mi, s);
}

/** "2024-03-01T12:34:56[.ffffff](Z|+hh:mm|-hhmm)?"; without a zone the clock's zone applies. */
function isoTimeMs(line: string, b: number, clock: LogClock): number {
  const y = digits(line, b, 4);
  const mo = digits(line, b + 5, 2);
  const d = digits(line, b + 8, 2);
  const h = digits(line, b + 11, 2);
  const mi = digits(line, b + 14, 2);
  const s = digits(line, b + 17, 2);
  if (!(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && s <= 60)) return NaN;
  let i = b + 19;
  let ms = 0;
  if (line.charCodeAt(i) === 46 /* . */) {
    i += 1;
    let scale = 100;
    for (let c = line.charCodeAt(i); c >= CH_0 && c <= CH_0 + 9; c = line.charCodeAt(++i)) {
      ms += (c - CH_0) * scale;
      scale /= 10;
    }
    ms = Math.floor(ms);
  }
  const z = line.charCodeAt(i);
  if (z === 90 /* Z */) return Date.UTC(y, mo - 1, d, h, mi, s, ms);
  if (z === 43 /* + */ || z === 45 /* - */) {
    const oh = digits(line, i + 1, 2);
    const om = line.charCodeAt(i + 3) === CH_COLON ? digits(line, i + 4, 2) : digits(line, i + 3, 2);
    const offset = (z === 45 ? -1 : 1) * (oh * 60 + (Number.isNaN(om) ? 0 : om));
    return Date.UTC(y, mo - 1, d, h, mi, s, ms) - offset * 60_000;
  }
  return clock.wallToEpochMs(y, mo, d, h, mi, s, ms);
}

/** Credential-guessing methods; "none" and "publickey" failures are normal client negotiation. */
function isPasswordLike(method: string | null): boolean {
  return method === 'password' || (method !== null && method.startsWith('keyboard-interactive'));
}

export interface AuthLogOptions {
  /** Count "Failed none/publickey/hostbased/..." as attempts too (default: password and keyboard-interactive only). */
  readonly countAllMethods?: boolean;
}

/**
 * Whether an event is one failed login attempt in the summary. sshd logs each password failure
 * twice on modern systems (pam_unix "authentication failure" and then "Failed password"), so PAM
 * lines count only under the old RHEL "sshd(pam_unix)" tag, whose logs (/var/log/messages) hold
 * no "Failed password" lines.
 */
export function isCountedFailure(ev: AuthEvent, options: AuthLogOptions = {}): boolean {
  if (ev.kind === 'failed') return options.countAllMethods === true || isPasswordLike(ev.method);
  return ev.kind === 'pam_failure' && ev.legacyPamTag;
}

export interface AuthLogCounts {
  /** Lines fed. */
  readonly lines: number;
  /** Lines the classifier recognised as one of the sshd events. */
  readonly eventLines: number;
  /** Lines holding "Failed password" (a "message repeated N times" line counts once here). */
  readonly failedPasswordLines: number;
  /** Failed attempts per method, with "message repeated N times" expanded. */
  readonly failedByMethod: Readonly<Record<string, number>>;
  /** "message repeated N times: [ Failed ...]" lines. */
  readonly repeatedFailedLines: number;
  readonly invalidUserLines: number;
  /** PAM authentication failures (attempts, "PAM N more" expanded), any tag. */
  readonly pamFailures: number;
  /** PAM failures under the old "sshd(pam_unix)" tag (these are counted as attempts). */
  readonly legacyPamFailures: number;
  readonly maxAttemptsExceeded: number;
  readonly preauthDisconnects: number;
  readonly accepted: number;
  /** Lines whose timestamp could not be read (their events still count, outside any window). */
  readonly untimedEvents: number;
}

export interface AuthLogSummary {
  readonly counts: AuthLogCounts;
  /** Counted failed attempts (see isCountedFailure) and successes, per source. */
  readonly failures: FailureSummary;
}

/**
 * Feed lines (or already classified events) in file order; ask for the summary at the end.
 * `onFailure` sees every counted failed attempt as it is read, so callers can stream CSV/JSON
 * without the analyzer keeping them.
 */
export class AuthLogAnalyzer {
  private readonly aggregator: FailureAggregator;
  private lines = 0;
  private eventLines = 0;
  private failedPasswordLines = 0;
  private readonly failedByMethod = new Map<string, number>();
  private repeatedFailedLines = 0;
  private invalidUserLines = 0;
  private pamFailures = 0;
  private legacyPamFailures = 0;
  private maxAttemptsExceeded = 0;
  private preauthDisconnects = 0;
  private accepted = 0;
  private untimed = 0;
  /** Reused for every line: only events handed to onFailure are copied out. */
  private readonly current = blankEvent();

  constructor(
    private readonly clock: LogClock,
    options: BruteForceOptions,
    private readonly authOptions: AuthLogOptions = {},
    private readonly onFailure?: (ev: AuthEvent) => void,
  ) {
    this.aggregator = new FailureAggregator(options);
  }

  feedLine(line: string): void {
    this.lines += 1;
    if (classifyInto(line, this.clock, this.current)) this.record(this.current);
  }

  /** For events classified elsewhere; counts as one line. */
  feedEvent(ev: AuthEvent): void {
    this.lines += 1;
    this.record(ev);
  }

  private record(ev: AuthEvent): void {
    this.eventLines += 1;
    if (ev.count !== 1 && ev.kind === 'failed') this.repeatedFailedLines += 1;
    if (Number.isNaN(ev.timeMs)) this.untimed += 1;
    switch (ev.kind) {
      case 'failed': {
        const method = ev.method ?? '';
        if (method === 'password') this.failedPasswordLines += 1;
        this.failedByMethod.set(method, (this.failedByMethod.get(method) ?? 0) + ev.count);
        break;
      }
      case 'accepted':
        this.accepted += 1;
        this.aggregator.addSuccess(ev.timeMs, ev.address, ev.user, ev.method);
        return;
      case 'invalid_user':
        this.invalidUserLines += 1;
        return;
      case 'pam_failure':
        this.pamFailures += ev.count;
        if (ev.legacyPamTag) this.legacyPamFailures += ev.count;
        break;
      case 'max_attempts':
        this.maxAttemptsExceeded += 1;
        return;
      case 'preauth_disconnect':
        this.preauthDisconnects += 1;
        return;
    }
    if (!isCountedFailure(ev, this.authOptions)) return;
    this.aggregator.addFailure(ev.timeMs, ev.address, ev.user, ev.count);
    if (this.onFailure === undefined) return;
    if (ev === this.current) {
      fillOrigin(this.current);
      this.onFailure(copyEvent(this.current));
    } else {
      this.onFailure(ev);
    }
  }

  summarize(): AuthLogSummary {
    const failedByMethod: Record<string, number> = {};
    for (const [k, v] of [...this.failedByMethod.entries()].sort()) failedByMethod[k] = v;
    return {
      counts: {
        lines: this.lines,
        eventLines: this.eventLines,
        failedPasswordLines: this.failedPasswordLines,
        failedByMethod,
        repeatedFailedLines: this.repeatedFailedLines,
        invalidUserLines: this.invalidUserLines,
        pamFailures: this.pamFailures,
        legacyPamFailures: this.legacyPamFailures,
        maxAttemptsExceeded: this.maxAttemptsExceeded,
        preauthDisconnects: this.preauthDisconnects,
        accepted: this.accepted,
        untimedEvents: this.untimed,
      },
      failures: this.aggregator.summarize(),
    };
  }
}
