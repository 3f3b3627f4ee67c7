/**
 * The SharedState contract: the same cases against each implementation (file-state.test.ts,
 * kv-state.test.ts). "Two members" are two SharedState objects over the same store: two
 * processes on one host for the file store, two KV store clients (two connections) for the
 * KV store.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseVirusTotalIp } from '../../src/intel/virustotal-report';
import { parseAbuseIpdbCheck } from '../../src/intel/abuseipdb-report';
import type { VtIpReport } from '../../src/intel/virustotal-report';
import type { AbuseReport } from '../../src/intel/abuseipdb-report';
import type { IncidentDraft } from '../../src/respond/incident-store';
import type { SharedState } from '../../src/state/shared-state';
import type { DeliverFunction, DeliveryOutcome } from '../../src/respond/discord-delivery';
import { ip } from '../support/ip-address';
import { incidentDraft } from '../support/incident-draft';

export interface StateFixture {
  /** Two views of one store (two members, or two processes). */
  readonly a: SharedState;
  readonly b: SharedState;
  cleanup(): Promise<void>;
}

const corpus = (...p: string[]) => path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'corpus', ...p);
const unwrap = <T>(r: { ok: true; value: T } | { ok: false; error: { kind: string; message: string } }): T => {
  if (!r.ok) throw new Error(`${r.error.kind}: ${r.error.message}`);
  return r.value;
};

/** The OpenCTI capture of 138.128.150.133 and AbuseIPDB's documented example, as the stores keep them. */
const VT_REPORT: VtIpReport = unwrap(parseVirusTotalIp(JSON.parse(readFileSync(corpus('virustotal', 'opencti_vt_test_ipv4.json'), 'utf8')), '138.128.150.133'));
const ABUSE_REPORT: AbuseReport = unwrap(parseAbuseIpdbCheck(JSON.parse(readFileSync(corpus('abuseipdb', 'abuseipdb_docs_check_example_response.json'), 'utf8'))));
const ABUSE_IP = '118.25.6.39';

const T0 = Date.UTC(2026, 11, 6, 12, 0, 30);
const fast = { sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, Math.min(ms, 5))), now: Date.now };

const draft = (sid: string, rid: string, srcIp = '203.0.113.9'): IncidentDraft => incidentDraft(sid, rid, srcIp, T0);

/**
 * A deliverer with no network: records every card it is given and answers what `answer` says
 * (the shapes webhookDeliverer answers), after `delayMs` (a post takes time: two members overlap).
 */
function recordingDeliverer(answer: (payload: unknown, call: number) => DeliveryOutcome, delayMs = 0): DeliverFunction & { calls: unknown[] } {
  const calls: unknown[] = [];
  const deliver = async (payload: unknown) => {
    calls.push(payload);
    const call = calls.length;
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    return answer(payload, call);
  };
  return Object.assign(deliver, { calls });
}
const DELIVERED: DeliveryOutcome = { status: 'delivered', messageId: '1180000000000000001', httpStatus: 200, attempts: 1 };
const FAILED: DeliveryOutcome = { status: 'failed', reason: 'Discord answered HTTP 503', httpStatus: 503, attempts: 1 };
const REFUSED: DeliveryOutcome = { status: 'rejected', cause: 'payload', reason: 'Discord refused the message (HTTP 400, code 50035: Invalid Form Body)', httpStatus: 400, discordCode: 50035, attempts: 1 };
const card = (n: number) => ({ incidentId: `INC-20261206-120030-${n.toString(16).padStart(6, '0')}`, kind: 'incident', payload: { content: `incident ${n}`, embeds: [{ title: `MALICIOUS 203.0.113.${n}`, fields: [{ name: 'verdict', value: 'MALICIOUS' }] }] } });
/** A fixed clock at `t` with no jitter: backoff after the first failure is exactly 15 s (half of 30 s, plus 0 jitter). */
const at = (t: number) => ({ now: () => t, deadlineMs: t + 60_000, random: () => 0 });

let idCounter = 0;
const newId = () => `INC-20261206-120030-${(idCounter++ % 0xffffff).toString(16).padStart(6, '0')}`;

export function sharedStateContract(name: string, make: () => Promise<StateFixture>): void {
  describe(`SharedState contract: ${name}`, () => {
    let f: StateFixture;
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      await f.cleanup();
    });
    queueCases(() => f);

    describe('intel cache', () => {
      it('misses, then answers what was put, for the same key only, until it expires', async () => {
        assert.equal(unwrap(await f.a.intel.get('virustotal', '138.128.150.133', 'k1', T0)), undefined);
        unwrap(await f.a.intel.put('virustotal', '138.128.150.133', 'k1', { state: 'report', report: VT_REPORT }, T0));
        const hit = unwrap(await f.b.intel.get('virustotal', '138.128.150.133', 'k1', T0 + 1000));
        assert.equal(hit?.state, 'report');
        assert.deepEqual(hit?.state === 'report' ? hit.report.stats : undefined, VT_REPORT.stats);
        assert.equal(unwrap(await f.b.intel.get('virustotal', '138.128.150.133', 'other-key', T0 + 1000)), undefined, 'another key is another cache entry');
        assert.equal(unwrap(await f.b.intel.get('virustotal', '138.128.150.133', 'k1', T0 + 25 * 3_600_000)), undefined, 'expired after the 24 h default');
      });

      it('keeps both providers of one address, and a not-found answer', async () => {
        await Promise.all([
          f.a.intel.put('virustotal', ABUSE_IP, 'kv', { state: 'not_found' }, T0),
          f.a.intel.put('abuseipdb', ABUSE_IP, 'ka', { state: 'report', report: ABUSE_REPORT }, T0),
        ]);
        assert.equal(unwrap(await f.b.intel.get('virustotal', ABUSE_IP, 'kv', T0 + 1))?.state, 'not_found');
        const abuse = unwrap(await f.b.intel.get('abuseipdb', ABUSE_IP, 'ka', T0 + 1));
        assert.equal(abuse?.state === 'report' ? abuse.report.abuseConfidenceScore : undefined, ABUSE_REPORT.abuseConfidenceScore);
      });
    });

    describe('single flight', () => {
      it('runs one holder at a time across members; a waiter out of time is busy', async () => {
        let inside = 0;
        let most = 0;
        const work = async () => {
          inside += 1;
          most = Math.max(most, inside);
          await new Promise((r) => setTimeout(r, 40));
          inside -= 1;
          return 'done';
        };
        const [x, y] = await Promise.all([
          f.a.flights.exclusive('virustotal', '198.51.100.7', work, { ...fast, timeoutMs: 5000 }),
          f.b.flights.exclusive('virustotal', '198.51.100.7', work, { ...fast, timeoutMs: 5000 }),
        ]);
        assert.deepEqual([unwrap(x), unwrap(y)], ['done', 'done']);
        assert.equal(most, 1, 'never two holders at once');
        const held = f.a.flights.exclusive('virustotal', '198.51.100.8', () => new Promise((r) => setTimeout(() => r('long'), 300)), { ...fast, timeoutMs: 5000 });
        await new Promise((r) => setTimeout(r, 60));
        const busy = await f.b.flights.exclusive('virustotal', '198.51.100.8', async () => 'never', { ...fast, timeoutMs: 50 });
        assert.equal(unwrap(busy), 'busy');
        assert.equal(unwrap(await held), 'long');
      });
    });

    describe('quota', () => {
      const limits = { perMinute: 4, perDay: 6 };
      it('grants 4 a minute across members, never more, and says when the next slot frees', async () => {
        const decisions = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? f.a : f.b).quota.tryAcquire('virustotal', limits, T0)));
        assert.equal(decisions.filter((d) => d.granted).length, 4);
        const denied = decisions.find((d) => !d.granted);
        assert.equal(denied && !denied.granted ? denied.reason : '', 'minute');
        assert.ok(denied && !denied.granted && denied.availableAtMs === T0 + 60_000);
        // The sliding window: 59 s later the 4 still count; 61 s later they do not.
        assert.equal((await f.b.quota.tryAcquire('virustotal', limits, T0 + 59_000)).granted, false);
        assert.equal((await f.b.quota.tryAcquire('virustotal', limits, T0 + 61_000)).granted, true);
        const usage = await f.a.quota.usage('virustotal', limits, T0 + 61_000);
        assert.equal(usage.dayUsed, 5);
        assert.equal(usage.minuteUsed, 1);
      });

      it('stops at the daily limit until 00:00 UTC, gives back an unsent slot, and shares a 429 penalty', async () => {
        const granted = [];
        for (let i = 0; i < 6; i++) granted.push(await f.a.quota.tryAcquire('abuseipdb', limits, T0 + i * 61_000));
        assert.ok(granted.every((d) => d.granted));
        const day = await f.b.quota.tryAcquire('abuseipdb', limits, T0 + 7 * 61_000);
        assert.equal(day.granted ? '' : day.reason, 'day');
        const last = granted[5]!;
        assert.ok(last.granted);
        assert.equal(await f.a.quota.release('abuseipdb', last, T0 + 5 * 61_000 + 10), true);
        assert.equal(await f.a.quota.release('abuseipdb', last, T0 + 5 * 61_000 + 10), false, 'a grant is given back once');
        assert.equal((await f.b.quota.tryAcquire('abuseipdb', limits, T0 + 7 * 61_000)).granted, true);
        assert.equal(await f.b.quota.penalize('virustotal', T0 + 600_000, T0), true);
        const penalised = await f.a.quota.tryAcquire('virustotal', limits, T0 + 1000);
        assert.equal(penalised.granted ? '' : penalised.reason, 'penalty');
        assert.equal(!penalised.granted && penalised.availableAtMs, T0 + 600_000);
        assert.equal((await f.a.quota.usage('virustotal', limits, T0 + 1000)).penaltyUntilMs, T0 + 600_000);
        // A 429 penalty on a day whose budget is spent: the later of the two says when to try again.
        const spent = await f.b.quota.tryAcquire('abuseipdb', limits, T0 + 8 * 61_000);
        assert.equal(spent.granted ? '' : spent.reason, 'day');
        assert.equal(await f.a.quota.penalize('abuseipdb', T0 + 9 * 61_000, T0 + 8 * 61_000), true);
        const both = await f.b.quota.tryAcquire('abuseipdb', limits, T0 + 8 * 61_000 + 1);
        assert.deepEqual(both.granted ? null : [both.reason, both.availableAtMs], ['day', Date.UTC(2026, 11, 7)]);
      });
    });

    describe('incidents', () => {
      it('records a result once, however many members try at once', async () => {
        const tries = await Promise.all([f.a, f.b, f.a, f.b].map((s) => s.incidents.record(draft('sid-1', '0'), newId)));
        const recorded = tries.map(unwrap);
        assert.equal(recorded.filter((r) => r.status === 'recorded').length, 1);
        const id = recorded.find((r) => r.status === 'recorded')!.incidentId;
        assert.ok(recorded.every((r) => r.incidentId === id), 'every duplicate names the recorded incident');
        assert.equal(unwrap(await f.b.incidents.recorded('sid-1', '0')), id);
        assert.equal(unwrap(await f.b.incidents.recorded('sid-1', '1')), undefined);
      });

      it('records a digest in one batch and answers its sid', async () => {
        const drafts = Array.from({ length: 30 }, (_, i) => draft('sid-digest', String(i)));
        const first = unwrap(await f.a.incidents.recordMany(drafts, newId));
        assert.equal(first.filter((r) => r.ok && r.value.status === 'recorded').length, 30);
        const again = unwrap(await f.b.incidents.recordMany(drafts.slice(0, 10), newId));
        assert.equal(again.length, 10);
        assert.ok(again.every((r) => r.ok && r.value.status === 'duplicate'));
        const ids = unwrap(await f.b.incidents.recordedInSid('sid-digest'));
        assert.equal(ids.size, 30);
        assert.equal(ids.get('3'), first[3]!.ok ? first[3]!.value.incidentId : '');
      });
    });

    describe('notification ledger', () => {
      it('tells exactly one of many concurrent claims to notify; a worse verdict notifies again', async () => {
        const claims = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? f.a : f.b).notifications.claim(ip('203.0.113.50'), 'SUSPICIOUS', T0, 3600, `INC-${i}`)));
        assert.equal(claims.map(unwrap).filter((d) => d.notify).length, 1);
        assert.equal(unwrap(await f.a.notifications.claim(ip('203.0.113.50'), 'SUSPICIOUS', T0 + 60_000, 3600, 'INC-x')).notify, false);
        const worse = unwrap(await f.b.notifications.claim(ip('203.0.113.50'), 'MALICIOUS', T0 + 61_000, 3600, 'INC-y'));
        assert.equal(worse.notify, true);
        assert.match(worse.reason, /SUSPICIOUS → MALICIOUS/);
        assert.equal(unwrap(await f.a.notifications.claim(ip('203.0.113.50'), 'MALICIOUS', T0 + 61_000 + 3600_000, 3600, 'INC-z')).notify, true, 'again after the window');
      });

      it('refuses a negative window', async () => {
        const r = await f.a.notifications.claim(ip('203.0.113.51'), 'SAFE', T0, -1, null);
        assert.equal(r.ok, false);
      });
    });

    describe('blocklist', () => {
      const policy = { baseSeconds: 3600, maxSeconds: 86_400 };
      it('blocks, escalates per offence (not per row), and every member sees it', async () => {
        const first = unwrap(await f.a.blocklist.block(ip('203.0.113.77'), 'MALICIOUS', 'five engines', T0, policy, 'sid-A'));
        assert.equal(first.entry.count, 1);
        assert.equal(first.durationSeconds, 3600);
        assert.ok(first.commands.some((c) => c.includes('203.0.113.77')));
        const sameFiring = unwrap(await f.b.blocklist.block(ip('203.0.113.77'), 'MALICIOUS', 'five engines', T0 + 1000, policy, 'sid-A'));
        assert.equal(sameFiring.entry.count, 1, 'another row of the same firing does not escalate');
        const next = unwrap(await f.b.blocklist.block(ip('203.0.113.77'), 'MALICIOUS', 'again', T0 + 2000, policy, 'sid-B'));
        assert.equal(next.entry.count, 2);
        assert.equal(next.durationSeconds, 7200);
        const seen = unwrap(await f.a.blocklist.list(T0 + 3000));
        assert.deepEqual(seen.map((e) => [e.address.text, e.count]), [['203.0.113.77', 2]]);
      });

      it('concurrent offences from two members all count', async () => {
        await Promise.all(['s1', 's2', 's3', 's4'].map((sid, i) => (i % 2 ? f.a : f.b).blocklist.block(ip('203.0.113.78'), 'MALICIOUS', 'r', T0 + i, policy, sid)));
        const [entry] = unwrap(await f.a.blocklist.list(T0 + 10));
        assert.equal(entry?.count, 4, 'no offence lost to a concurrent writer');
      });

      it('expires blocks, keeps their count for the next block, and an unblock forgets it', async () => {
        unwrap(await f.a.blocklist.block(ip('203.0.113.79'), 'MALICIOUS', 'r', T0, policy, 'o1'));
        const expired = unwrap(await f.b.blocklist.purgeExpired(T0 + 3600_000 + 1000));
        assert.deepEqual(expired.map((e) => e.address.text), ['203.0.113.79']);
        assert.deepEqual(unwrap(await f.a.blocklist.purgeExpired(T0 + 3600_000 + 2000)), [], 'purged once');
        assert.deepEqual(unwrap(await f.a.blocklist.list(T0 + 3600_000 + 2000)), []);
        const repeat = unwrap(await f.a.blocklist.block(ip('203.0.113.79'), 'MALICIOUS', 'r', T0 + 3600_000 + 5000, policy, 'o2'));
        assert.equal(repeat.entry.count, 2, 'the expired block still counts within the lookback');
        const lifted = unwrap(await f.b.blocklist.unblock(ip('203.0.113.79')));
        assert.equal(lifted.removed?.address.text, '203.0.113.79');
        assert.ok(lifted.commands.length > 0);
        assert.deepEqual(unwrap(await f.a.blocklist.list(T0 + 3600_000 + 6000)), [], 'the unblock is seen by the other member');
        const fresh = unwrap(await f.a.blocklist.block(ip('203.0.113.79'), 'MALICIOUS', 'r', T0 + 3600_000 + 7000, policy, 'o3'));
        assert.equal(fresh.entry.count, 1, 'an unblock forgets the history');
        assert.equal(unwrap(await f.a.blocklist.unblock(ip('198.51.100.200'))).removed, null);
      });

      it('refuses a policy that is not whole seconds', async () => {
        const r = await f.a.blocklist.block(ip('203.0.113.1'), 'MALICIOUS', 'r', T0, { baseSeconds: 0.5, maxSeconds: 10 });
        assert.equal(r.ok, false);
      });
    });

    describe('outbox', () => {
      it('queues a notification once, on whichever member enqueues it; size counts', async () => {
        assert.equal(unwrap(await f.a.outbox.enqueue(card(1), T0)), 'queued');
        assert.equal(unwrap(await f.b.outbox.enqueue(card(1), T0 + 1)), 'already_queued');
        assert.equal(unwrap(await f.b.outbox.enqueue({ ...card(1), kind: 'update' }, T0 + 2)), 'queued', 'another kind is another notification');
        assert.equal(unwrap(await f.a.outbox.enqueue(card(2), T0 + 3)), 'queued');
        assert.equal(unwrap(await f.b.outbox.size()), 3);
        const waiting = unwrap(await f.a.outbox.waiting(T0 + 4));
        assert.deepEqual(waiting.map((w) => [w.key, w.attempts, w.claimed]), [
          [`${card(1).incidentId}:incident`, 0, false],
          [`${card(1).incidentId}:update`, 0, false],
          [`${card(2).incidentId}:incident`, 0, false],
        ]);
        assert.equal((await f.a.outbox.enqueue({ ...card(3), kind: 'Not_A_Kind' }, T0)).ok, false, 'a kind the outbox cannot name is refused');
      });

      it('sends a card once: delivered, then already delivered for every member', async () => {
        const deliver = recordingDeliverer(() => DELIVERED);
        const sent = unwrap(await f.a.outbox.send(card(1), deliver, at(T0)));
        assert.equal(sent.status, 'delivered');
        assert.equal(sent.status === 'delivered' && sent.delivery.status === 'delivered' ? sent.delivery.messageId : '', DELIVERED.status === 'delivered' ? DELIVERED.messageId : '');
        assert.deepEqual(deliver.calls, [card(1).payload], 'the card as queued, once');
        assert.equal(unwrap(await f.b.outbox.send(card(1), deliver, at(T0 + 1000))).status, 'already_delivered');
        assert.equal(unwrap(await f.b.outbox.enqueue(card(1), T0 + 2000)), 'already_delivered', 'a late duplicate is not queued again');
        assert.equal(deliver.calls.length, 1);
        assert.equal(unwrap(await f.a.outbox.size()), 0);
      });

      it('two members draining at once deliver each card once', async () => {
        for (let n = 1; n <= 6; n++) unwrap(await (n % 2 ? f.a : f.b).outbox.enqueue(card(n), T0 + n));
        const deliver = recordingDeliverer(() => DELIVERED, 15);
        const [x, y] = await Promise.all([f.a.outbox.drain(deliver, at(T0 + 100)), f.b.outbox.drain(deliver, at(T0 + 100))]);
        const reports = [unwrap(x), unwrap(y)];
        assert.equal(reports[0]!.delivered + reports[1]!.delivered, 6);
        const sentTitles = deliver.calls.map((p) => (p as { content: string }).content).sort();
        assert.deepEqual(sentTitles, [1, 2, 3, 4, 5, 6].map((n) => `incident ${n}`).sort(), 'every card posted exactly once');
        assert.equal(unwrap(await f.a.outbox.size()), 0);
        const again = unwrap(await f.b.outbox.drain(deliver, at(T0 + 200)));
        assert.equal(again.delivered + again.results.length, 0, 'nothing left to send');
      });

      it('retries a failed delivery after its backoff, not before; an admin drain (includeWaiting) tries it at once', async () => {
        const answers = [FAILED, FAILED, DELIVERED];
        const deliver = recordingDeliverer((_p, call) => answers[call - 1] ?? DELIVERED);
        const first = unwrap(await f.a.outbox.send(card(1), deliver, at(T0)));
        assert.equal(first.status, 'retry_later');
        assert.equal(first.status === 'retry_later' ? first.nextAttemptAtMs : 0, T0 + 15_000, 'backoff: 30 s base, half fixed, no jitter');
        const waiting = unwrap(await f.b.outbox.waiting(T0 + 1));
        assert.deepEqual(waiting.map((w) => [w.attempts, w.nextAttemptAtMs, w.lastError]), [[1, T0 + 15_000, FAILED.status === 'failed' ? FAILED.reason : '']]);
        const early = unwrap(await f.b.outbox.drain(deliver, at(T0 + 14_999)));
        assert.equal(early.results.length, 0, 'not due before its next attempt time');
        assert.equal(deliver.calls.length, 1);
        const due = unwrap(await f.b.outbox.drain(deliver, at(T0 + 15_000)));
        assert.equal(due.retryLater, 1, 'due at its next attempt time (and fails again)');
        const second = unwrap(await f.a.outbox.waiting(T0 + 15_001))[0];
        assert.equal(second?.attempts, 2);
        assert.equal(second?.nextAttemptAtMs, T0 + 15_000 + 30_000, 'the second backoff doubles');
        const admin = unwrap(await f.a.outbox.drain(deliver, { ...at(T0 + 16_000), includeWaiting: true }));
        assert.equal(admin.delivered, 1, 'includeWaiting does not wait for the backoff');
        assert.equal(deliver.calls.length, 3);
        assert.equal(unwrap(await f.b.outbox.size()), 0);
      });

      it('a card Discord refuses becomes a dead letter in the sending member\'s data directory; the others are still sent', async () => {
        const deliver = recordingDeliverer((p) => ((p as { content: string }).content === 'incident 1' ? REFUSED : DELIVERED));
        unwrap(await f.b.outbox.enqueue(card(1), T0));
        unwrap(await f.b.outbox.enqueue(card(2), T0 + 1));
        const report = unwrap(await f.a.outbox.drain(deliver, at(T0 + 10)));
        assert.equal(report.deadLettered, 1);
        assert.equal(report.delivered, 1, 'a refused payload is that card\'s problem only');
        const letter = report.results.find((r) => r.result.status === 'dead_lettered')?.result;
        assert.equal(report.results[0]?.key, `${card(1).incidentId}:incident`);
        assert.ok(letter?.status === 'dead_lettered' && existsSync(letter.deadLetter), 'the dead letter file exists');
        assert.equal(unwrap(await f.a.outbox.size()), 0);
        assert.equal(unwrap(await f.b.outbox.enqueue(card(1), T0 + 20)), 'queued', 'not delivered: replaying the dead letter queues it again');
        assert.equal(deliver.calls.length, 2);
      });
    });

    describe('leases', () => {
      it('one holder at a time; taken over after expiry; given back', async () => {
        // Real time: the file store's lease is a lock file, judged by its modification time.
        const t = Date.now();
        const [x, y] = await Promise.all([f.a.leases.tryAcquire('maintenance', 'run-a', t, 55_000), f.b.leases.tryAcquire('maintenance', 'run-b', t, 55_000)]);
        const held = [unwrap(x), unwrap(y)].filter((l) => l !== undefined);
        assert.equal(held.length, 1);
        assert.equal(unwrap(await f.b.leases.tryAcquire('maintenance', 'run-c', t + 10_000, 55_000)), undefined);
        unwrap(await f.a.leases.release(held[0]!));
        const after = unwrap(await f.b.leases.tryAcquire('maintenance', 'run-d', t + 11_000, 55_000));
        assert.ok(after !== undefined, 'free once given back');
        const takeover = unwrap(await f.a.leases.tryAcquire('maintenance', 'run-e', t + 11_000 + 56_000, 55_000));
        assert.ok(takeover !== undefined, 'a holder that never gave it back loses it after the ttl');
        unwrap(await f.b.leases.release(after));
        assert.equal(unwrap(await f.b.leases.tryAcquire('maintenance', 'run-f', t + 12_000, 55_000)), undefined, "the old holder's release leaves the new holder's lease");
      });
    });
  });
}

const QUEUED = '198.51.100.7';
const queueRef = (n: number) => ({ incidentId: `INC-20261206-120030-00000${n}`, sid: 'scheduler__q', rid: String(n), detection: 'SSH Brute Force' });
const MINUTE = 60_000;

/** The deferred-enrichment queue (state.queue): the same rules on both stores. */
function queueCases(fixture: () => StateFixture): void {
  describe('enrichment queue', () => {
    it('merges two enqueues for one address into one entry with both references', async () => {
      const f = fixture();
      unwrap(await f.a.queue.enqueue(QUEUED, queueRef(1), T0));
      const merged = unwrap(await f.b.queue.enqueue(QUEUED, queueRef(2), T0 + 1000, T0 + 1000, { virustotal: 'deferred' }));
      assert.deepEqual(merged?.refs.map((r) => r.incidentId), [queueRef(1).incidentId, queueRef(2).incidentId]);
      const listed = unwrap(await f.a.queue.list(T0 + 1000));
      assert.equal(listed.length, 1);
      assert.deepEqual(listed[0]!.refs.map((r) => r.incidentId), [queueRef(1).incidentId, queueRef(2).incidentId]);
      assert.deepEqual(listed[0]!.waitingFor, { virustotal: 'deferred' });
      assert.equal(unwrap(await f.b.queue.size()), 1);
      unwrap(await f.b.queue.enqueue(QUEUED, queueRef(1), T0 + 2000));
      assert.equal(unwrap(await f.a.queue.list(T0 + 2000))[0]!.refs.length, 2, 'each incident once');
    });

    it('lists only the entries that are due, oldest first', async () => {
      const f = fixture();
      unwrap(await f.a.queue.enqueue('198.51.100.8', queueRef(1), T0, T0 + MINUTE));
      unwrap(await f.a.queue.enqueue(QUEUED, queueRef(2), T0 + 1000));
      assert.deepEqual(unwrap(await f.b.queue.list(T0 + 1000)).map((e) => e.address), [QUEUED]);
      assert.deepEqual(unwrap(await f.b.queue.list(T0 + MINUTE)).map((e) => e.address), ['198.51.100.8', QUEUED]);
      assert.equal(unwrap(await f.b.queue.size()), 2);
      assert.equal(unwrap(await f.b.queue.claim('198.51.100.8', T0 + 1000)), undefined, 'not due: not claimed');
    });

    it('two members claiming one address at once: one claim; complete removes it', async () => {
      const f = fixture();
      unwrap(await f.a.queue.enqueue(QUEUED, queueRef(1), T0));
      const claims = (await Promise.all([f.a.queue.claim(QUEUED, T0), f.b.queue.claim(QUEUED, T0)])).map(unwrap).filter((c) => c !== undefined);
      assert.equal(claims.length, 1);
      assert.deepEqual(unwrap(await f.a.queue.list(T0)), [], 'a claimed address is not listed');
      assert.equal(unwrap(await f.b.queue.claim(QUEUED, T0 + 1000)), undefined, 'held');
      assert.equal(unwrap(await f.a.queue.complete(claims[0]!)), true);
      assert.equal(unwrap(await f.a.queue.size()), 0);
      assert.deepEqual(unwrap(await f.b.queue.list(T0 + 1000)), []);
      assert.equal(unwrap(await f.b.queue.claim(QUEUED, T0 + 1000)), undefined, 'gone');
    });

    it('keeps what was queued while a claim was held', async () => {
      const f = fixture();
      unwrap(await f.a.queue.enqueue(QUEUED, queueRef(1), T0));
      const claim = unwrap(await f.a.queue.claim(QUEUED, T0))!;
      unwrap(await f.b.queue.enqueue(QUEUED, queueRef(2), T0 + 1000));
      assert.equal(unwrap(await f.a.queue.complete(claim)), true);
      const left = unwrap(await f.b.queue.list(T0 + 2000));
      assert.deepEqual(left.map((e) => e.refs.map((r) => r.incidentId)), [[queueRef(2).incidentId]]);
    });

    it('a released address is not listed before its backoff, and counts the attempt', async () => {
      const f = fixture();
      unwrap(await f.a.queue.enqueue(QUEUED, queueRef(1), T0));
      const claim = unwrap(await f.a.queue.claim(QUEUED, T0))!;
      assert.equal(unwrap(await f.a.queue.release(claim, T0, undefined, 'quota spent', { virustotal: 'retry' })), true);
      assert.deepEqual(unwrap(await f.b.queue.list(T0 + 30_000)), [], 'inside the 1 min backoff');
      const back = unwrap(await f.b.queue.list(T0 + MINUTE));
      assert.equal(back.length, 1);
      assert.equal(back[0]!.attempts, 1);
      assert.equal(back[0]!.lastError, 'quota spent');
      assert.deepEqual(back[0]!.waitingFor, { virustotal: 'retry' });
      assert.equal(unwrap(await f.a.queue.complete(claim)), false, 'a released claim is no longer held');
    });

    it('puts a stale claim back, due at once, with the attempt counted', async () => {
      const f = fixture();
      unwrap(await f.a.queue.enqueue(QUEUED, queueRef(1), T0));
      const claim = unwrap(await f.a.queue.claim(QUEUED, T0))!;
      assert.equal(unwrap(await f.b.queue.recoverStaleClaims(T0 + MINUTE)), 0, 'a live claim stays');
      assert.equal(unwrap(await f.b.queue.recoverStaleClaims(T0 + 11 * MINUTE)), 1);
      const back = unwrap(await f.b.queue.list(T0 + 11 * MINUTE));
      assert.equal(back.length, 1);
      assert.equal(back[0]!.attempts, 1);
      assert.equal(unwrap(await f.a.queue.complete(claim)), false, 'the claim was lost');
      const again = unwrap(await f.b.queue.claim(QUEUED, T0 + 11 * MINUTE));
      assert.ok(again !== undefined, 'claimable again');
    });

    it('expires references older than the maximum age and answers them', async () => {
      const f = fixture();
      const DAY = 86_400_000;
      unwrap(await f.a.queue.enqueueMany(QUEUED, [queueRef(1), queueRef(2)], T0));
      unwrap(await f.a.queue.enqueue('198.51.100.8', queueRef(3), T0));
      unwrap(await f.a.queue.enqueue('198.51.100.8', queueRef(4), T0 + 6 * DAY));
      assert.deepEqual(unwrap(await f.b.queue.expireNow(T0 + 6 * DAY)), { addresses: 0, refs: 0 });
      assert.deepEqual(unwrap(await f.b.queue.expireNow(T0 + 8 * DAY)), { addresses: 1, refs: 3 });
      const left = unwrap(await f.a.queue.list(T0 + 8 * DAY));
      assert.deepEqual(left.map((e) => [e.address, e.refs.map((r) => r.incidentId)]), [['198.51.100.8', [queueRef(4).incidentId]]]);
      assert.equal(unwrap(await f.a.queue.size()), 1);
    });
  });
}
