import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { dataLayout, DataLayout } from '../../src/store/data-dir';
import { buildDiscordMessage, discordMessageViolations } from '../../src/respond/discord-embed';
import { DeliverFunction, FetchFunction, webhookDeliverer } from '../../src/respond/discord-delivery';
import type { Incident } from '../../src/respond/incident';
import {
  drainOutbox,
  enqueueNotification,
  inspectDeadLetter,
  listDeadLetters,
  markDelivered,
  outboxSize,
  readDeadLetter,
  requeueDeadLetter,
  sendNotification,
  wasDelivered,
  writeDeadLetter,
} from '../../src/respond/outbox';
import { parseAllowedHosts, parseWebhookTarget } from '../../src/respond/webhook-target';
import { DiscordStub, startDiscordStub } from '../support/discord-stub';
import { requireCompiled, runNode, startNode } from './child-process';
import { hostileUsers, realisticIncident } from './corpus';
import { sealKey } from '../support/sealed-entries';

const nodeFetch: FetchFunction = (url, init) => fetch(url, init);

function incidentNumbered(n: number): Incident {
  return { ...realisticIncident(), incidentId: `INC-20241210-110445-${n.toString(16).padStart(6, '0')}`, rid: String(n) };
}

describe('respond/outbox', () => {
  let root: string;
  let layout: DataLayout;
  let stub: DiscordStub;
  let deliver: DeliverFunction;
  const clock = { now: () => Date.now() };
  const soon = (ms = 5000) => ({ ...clock, deadlineMs: Date.now() + ms });

  beforeEach(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-outbox-'));
    layout = dataLayout(root);
    stub = await startDiscordStub();
    const target = parseWebhookTarget(stub.webhookUrl, parseAllowedHosts(stub.hostPort));
    if (!target.ok) throw new Error(target.error.message);
    deliver = webhookDeliverer(target.value, nodeFetch, { backoffBaseMs: 10, backoffMaxMs: 40, minRequestMs: 50, maxAttempts: 1 });
  });
  afterEach(async () => {
    await stub.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('enqueueing the same incident + kind twice keeps one file; other kinds and incidents are separate', () => {
    const msg = buildDiscordMessage(incidentNumbered(1));
    const n = { incidentId: 'INC-20241210-110445-000001', kind: 'incident', payload: msg };
    assert.deepEqual(enqueueNotification(layout, n, 1000), { ok: true, value: 'queued' });
    assert.deepEqual(enqueueNotification(layout, n, 2000), { ok: true, value: 'already_queued' });
    assert.deepEqual(enqueueNotification(layout, { ...n, kind: 'update' }, 3000), { ok: true, value: 'queued' });
    assert.equal(outboxSize(layout), 2);
    assert.deepEqual(readdirSync(layout.outbox).sort(), ['INC-20241210-110445-000001__incident.json', 'INC-20241210-110445-000001__update.json']);
    const bad = enqueueNotification(layout, { ...n, incidentId: '../x' }, 1);
    assert.ok(!bad.ok && bad.error.kind === 'invalid_notification');
    const badKind = enqueueNotification(layout, { ...n, kind: 'a__b' }, 1);
    assert.ok(!badKind.ok && badKind.error.kind === 'invalid_notification');
  });

  it('sendNotification: 500 → queued for later (attempts 1, nextAttemptAt in the future); drain: 200 → delivered exactly once', async () => {
    const incident = incidentNumbered(2);
    const n = { incidentId: incident.incidentId, kind: 'incident', payload: buildDiscordMessage(incident) };
    stub.script({ type: 'server_error' });
    const sent = await sendNotification(layout, n, deliver, { ...soon(), random: () => 0.5, retryBaseMs: 1000 });
    assert.ok(sent.ok && sent.value.status === 'retry_later');
    assert.equal(outboxSize(layout), 1);
    const item = JSON.parse(readFileSync(path.join(layout.outbox, `${incident.incidentId}__incident.json`), 'utf8'));
    assert.equal(item.attempts, 1);
    assert.ok(item.nextAttemptAtMs >= Date.now() + 500 && item.nextAttemptAtMs <= Date.now() + 1000);
    assert.match(item.lastError, /HTTP 500/);

    const early = await drainOutbox(layout, deliver, soon());
    assert.ok(early.ok);
    assert.equal(early.value.delivered, 0, 'not due yet');
    assert.equal(stub.requests.length, 1);

    const later = { now: () => Date.now() + 2000, deadlineMs: Date.now() + 5000 };
    const drained = await drainOutbox(layout, deliver, later);
    assert.ok(drained.ok);
    assert.equal(drained.value.delivered, 1);
    assert.deepEqual(drained.value.results.map((r) => r.key), [`${incident.incidentId}:incident`]);
    assert.equal(outboxSize(layout), 0);
    assert.ok(wasDelivered(layout, incident.incidentId, 'incident'));
    assert.deepEqual(stub.requests.map((r) => r.answered), [500, 200]);
    assert.equal(stub.delivered().length, 1);

    const again = await drainOutbox(layout, deliver, later);
    assert.ok(again.ok && again.value.delivered === 0);
    const resend = await sendNotification(layout, n, deliver, soon());
    assert.deepEqual(resend, { ok: true, value: { status: 'already_delivered' } });
    assert.equal(stub.requests.length, 2, 'never sent twice');
  });

  it('404 Unknown Webhook: dead-lettered with the reason, no retry, the drain stops and leaves the rest queued', async () => {
    for (const k of [3, 4, 5]) {
      const i = incidentNumbered(k);
      assert.ok(enqueueNotification(layout, { incidentId: i.incidentId, kind: 'incident', payload: buildDiscordMessage(i) }, 1000 + k).ok);
    }
    stub.script({ type: 'unknown_webhook' });
    const r = await drainOutbox(layout, deliver, soon());
    assert.ok(r.ok);
    assert.equal(r.value.deadLettered, 1);
    assert.equal(r.value.leftForLater, 2);
    assert.match(r.value.stoppedBecause ?? '', /HTTP 404 Unknown Webhook \(code 10015\)/);
    assert.equal(stub.requests.length, 1);
    assert.equal(outboxSize(layout), 2);
    const letters = listDeadLetters(layout);
    assert.equal(letters.length, 1);
    const letter = readDeadLetter(letters[0], sealKey(root));
    assert.ok(letter.ok);
    assert.equal(letter.value.kind, 'notification');
    assert.deepEqual(letter.value.notification, { incidentId: incidentNumbered(3).incidentId, kind: 'incident', attempts: 1 });
    assert.match(letter.value.reason, /Unknown Webhook/);
    assert.ok(!readFileSync(letters[0], 'utf8').includes(stub.token));
    assert.deepEqual(letter.value.payload, JSON.parse(JSON.stringify(buildDiscordMessage(incidentNumbered(3)))));

    // After the webhook is fixed, `replay` puts it back and the drain delivers everything, oldest first.
    assert.deepEqual(requeueDeadLetter(layout, letters[0], Date.now()), { ok: true, value: 'queued' });
    assert.equal(listDeadLetters(layout).length, 0);
    const fixed = await drainOutbox(layout, deliver, soon());
    assert.ok(fixed.ok && fixed.value.delivered === 3);
    assert.deepEqual(stub.delivered().map((b) => b.embeds[0].fields.at(-1).value.match(/rid (\d+)/)[1]), ['4', '5', '3']);
  });

  it('429 during a drain: deferred until retry_after, the drain stops; maxItems limits a run', async () => {
    for (const k of [6, 7, 8]) {
      const i = incidentNumbered(k);
      assert.ok(enqueueNotification(layout, { incidentId: i.incidentId, kind: 'incident', payload: buildDiscordMessage(i) }, k).ok);
    }
    stub.script({ type: 'rate_limited', retryAfter: 30 });
    const r = await drainOutbox(layout, deliver, soon(2000));
    assert.ok(r.ok);
    assert.equal(r.value.retryLater, 1);
    assert.match(r.value.stoppedBecause ?? '', /rate limited/);
    const item = JSON.parse(readFileSync(path.join(layout.outbox, `${incidentNumbered(6).incidentId}__incident.json`), 'utf8'));
    assert.ok(item.nextAttemptAtMs >= Date.now() + 28_000, 'not before retry_after');
    const one = await drainOutbox(layout, deliver, { ...soon(), maxItems: 1 });
    assert.ok(one.ok && one.value.delivered === 1 && one.value.leftForLater === 1);
  });

  it('a delivered marker written before a crash stops the resend: the queued copy is dropped, nothing is posted', async () => {
    const i = incidentNumbered(9);
    assert.ok(enqueueNotification(layout, { incidentId: i.incidentId, kind: 'incident', payload: buildDiscordMessage(i) }, 1).ok);
    assert.ok(markDelivered(layout, i.incidentId, 'incident', Date.now(), '1190000000000000000').ok);
    const r = await drainOutbox(layout, deliver, soon());
    assert.ok(r.ok);
    assert.equal(r.value.alreadyDelivered, 1);
    assert.equal(stub.requests.length, 0);
    assert.equal(outboxSize(layout), 0);
  });

  it('a claim left by a SIGKILLed drain is recovered and delivered once', async function () {
    this.timeout(20_000);
    const i = incidentNumbered(10);
    assert.ok(enqueueNotification(layout, { incidentId: i.incidentId, kind: 'incident', payload: buildDiscordMessage(i) }, 1).ok);
    // A drain whose delivery never returns, killed while it holds the claim.
    const { child, done } = startNode(`
      const o = ${requireCompiled('outbox')};
      const { dataLayout } = require(${JSON.stringify(path.resolve(__dirname, '../../src/store/data-dir.js'))});
      o.drainOutbox(dataLayout(${JSON.stringify(root)}), () => { process.stdout.write('claimed'); return new Promise(() => {}); },
        { now: Date.now, deadlineMs: Date.now() + 60000 });
      setInterval(() => {}, 1000);`);
    await new Promise<void>((resolve) => child.stdout?.on('data', () => resolve()));
    assert.equal(readdirSync(path.join(layout.outbox, 'claimed')).length, 1);
    assert.equal(outboxSize(layout), 1, 'a claimed item still counts');
    child.kill('SIGKILL');
    await done;
    const r = await drainOutbox(layout, deliver, soon());
    assert.ok(r.ok);
    assert.equal(r.value.recoveredClaims, 1);
    assert.equal(r.value.delivered, 1);
    assert.equal(stub.delivered().length, 1);
    assert.equal(outboxSize(layout), 0);
  });

  it('two concurrent drains in separate processes deliver each of 30 items exactly once', async function () {
    this.timeout(30_000);
    const ids: string[] = [];
    for (let k = 100; k < 130; k++) {
      const i = incidentNumbered(k);
      ids.push(i.incidentId);
      assert.ok(enqueueNotification(layout, { incidentId: i.incidentId, kind: 'incident', payload: buildDiscordMessage(i) }, k).ok);
    }
    const script = `
      const o = ${requireCompiled('outbox')};
      const d = ${requireCompiled('discord-delivery')};
      const w = ${requireCompiled('webhook-target')};
      const { dataLayout } = require(${JSON.stringify(path.resolve(__dirname, '../../src/store/data-dir.js'))});
      const t = w.parseWebhookTarget(process.env.HOOK, w.parseAllowedHosts(process.env.SOAR_WEBHOOK_ALLOWED_HOSTS));
      o.drainOutbox(dataLayout(${JSON.stringify(root)}), d.webhookDeliverer(t.value, fetch), { now: Date.now, deadlineMs: Date.now() + 20000 })
        .then((r) => process.stdout.write(JSON.stringify(r.value)));`;
    const env = { HOOK: stub.webhookUrl, SOAR_WEBHOOK_ALLOWED_HOSTS: stub.hostPort };
    const [a, b] = await Promise.all([runNode(script, env), runNode(script, env)]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const ra = JSON.parse(a.stdout);
    const rb = JSON.parse(b.stdout);
    assert.equal(ra.delivered + rb.delivered, 30);
    assert.equal(stub.requests.length, 30);
    const posted = stub.delivered().map((body) => body.footer ?? body.embeds[0].footer.text);
    assert.equal(new Set(posted).size, 30);
    assert.deepEqual([...posted].sort(), ids.map((id) => `SOAR-EDR · incident ${id}`).sort());
    assert.equal(outboxSize(layout), 0);
  });

  it('hostile attacker strings arrive at Discord neutralised', async () => {
    const incident: Incident = { ...incidentNumbered(200), users: hostileUsers(), detection: '@everyone **SSH**', reason: '=HYPERLINK("http://x") <@&1>' };
    const sent = await sendNotification(layout, { incidentId: incident.incidentId, kind: 'incident', payload: buildDiscordMessage(incident) }, deliver, soon());
    assert.ok(sent.ok && sent.value.status === 'delivered');
    const [body] = stub.delivered();
    assert.deepEqual(discordMessageViolations(body), []);
    assert.deepEqual(body.allowed_mentions, { parse: [] });
    const texts = [body.embeds[0].title, body.embeds[0].description, ...body.embeds[0].fields.flatMap((f: any) => [f.name, f.value])].join('\n');
    assert.doesNotMatch(texts, /@everyone|@here/, 'mass mentions are broken by a zero-width space');
    assert.match(texts, /@\u200Beveryone/);
    assert.doesNotMatch(texts, /(?<!\\)\*\*bold(?<!\\)\*\*/);
    assert.match(texts, /\\\*\\\*bold\\\*\\\*/);
    assert.doesNotMatch(texts, /http:\/\/x/, 'no autolink from attacker text');
    assert.match(texts, /=HYPERLINK\\\("http\\:\/\/x"\\\)/);
    assert.doesNotMatch(texts, /(?<!\\)<[@#]/, 'no mention or channel syntax survives unescaped');
    assert.ok(!texts.includes('x'.repeat(101)), 'the 2,000-character name is capped');
    assert.ok(texts.includes('\uFFFD\uFFFDA'), 'invalid UTF-8 arrives as U+FFFD');
    assert.doesNotMatch(stub.requests[0].bodyText, /[\uD800-\uDFFF]/);
  });

  it('dead letters: written with the reason, read back, refused when corrupt or foreign', () => {
    const written = writeDeadLetter(layout, 'alert_payload', { sid: 'x', result: { src: '1.2.3.4' } }, 'results_file missing\nforged', 1_700_000_000_000);
    assert.ok(written.ok);
    const read = readDeadLetter(written.value, sealKey(root));
    assert.ok(read.ok);
    assert.equal(read.value.reason, 'results_file missing<U+000A>forged');
    assert.equal(read.value.createdAt, '2023-11-14T22:13:20.000Z');
    assert.deepEqual(read.value.payload, { sid: 'x', result: { src: '1.2.3.4' } });
    const requeue = requeueDeadLetter(layout, written.value, 1);
    assert.ok(!requeue.ok && requeue.error.kind === 'invalid_dead_letter');
    assert.ok(existsSync(written.value), 'a refused replay keeps the dead letter');
    const bad = writeDeadLetter(layout, '../x', {}, 'r', 1);
    assert.ok(!bad.ok && bad.error.kind === 'invalid_dead_letter');
    const missing = readDeadLetter(path.join(root, 'nope.json'), sealKey(root));
    assert.ok(!missing.ok && missing.error.kind === 'not_found');
    writeFileSync(path.join(root, 'half.json'), '{"version":1,');
    const half = readDeadLetter(path.join(root, 'half.json'), sealKey(root));
    assert.ok(!half.ok && half.error.kind === 'corrupt_dead_letter');
    writeFileSync(path.join(root, 'other.json'), '{"hello":"world"}');
    const other = readDeadLetter(path.join(root, 'other.json'), sealKey(root));
    assert.ok(!other.ok && other.error.kind === 'corrupt_dead_letter' && /not a SOAR-EDR dead letter/.test(other.error.message));
  });

  it('a corrupt outbox file is dead-lettered by the drain instead of blocking it', async () => {
    mkdirSync(layout.outbox, { recursive: true });
    writeFileSync(path.join(layout.outbox, 'INC-20241210-110445-0000ff__incident.json'), '{"version":1,');
    const r = await drainOutbox(layout, deliver, soon());
    assert.ok(r.ok);
    assert.equal(r.value.deadLettered, 1);
    assert.equal(stub.requests.length, 0);
    const letter = readDeadLetter(listDeadLetters(layout)[0], sealKey(root));
    assert.ok(letter.ok && letter.value.kind === 'outbox_file' && /not JSON/.test(letter.value.reason));
  });
});

describe('respond/outbox sealed entries', () => {
  let root: string;
  let layout: DataLayout;
  let stub: DiscordStub;
  let deliver: DeliverFunction;
  beforeEach(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-outbox-seal-'));
    layout = dataLayout(root);
    stub = await startDiscordStub();
    const target = parseWebhookTarget(stub.webhookUrl, parseAllowedHosts(stub.hostPort));
    if (!target.ok) throw new Error(target.error.message);
    deliver = webhookDeliverer(target.value, nodeFetch, { backoffBaseMs: 10, backoffMaxMs: 40, minRequestMs: 50, maxAttempts: 1 });
  });
  afterEach(async () => {
    await stub.close();
    rmSync(root, { recursive: true, force: true });
  });
  const item = (id: string) => ({ version: 1, key: `${id}:incident`, incidentId: id, kind: 'incident', payload: buildDiscordMessage({ ...incidentNumbered(1), incidentId: id }), createdAtMs: 1, attempts: 0, nextAttemptAtMs: 1, lastError: null });

  it('a planted outbox file (no MAC, or a wrong MAC) is never delivered: a forged dead letter that replay refuses', async () => {
    mkdirSync(layout.outbox, { recursive: true });
    writeFileSync(path.join(layout.outbox, 'INC-20241210-110445-0000a1__incident.json'), JSON.stringify(item('INC-20241210-110445-0000a1')));
    const wrong = { ...item('INC-20241210-110445-0000a2'), mac: 'ab'.repeat(32) };
    writeFileSync(path.join(layout.outbox, 'INC-20241210-110445-0000a2__incident.json'), JSON.stringify(wrong));
    const r = await drainOutbox(layout, deliver, { now: Date.now, deadlineMs: Date.now() + 5000 });
    assert.ok(r.ok);
    assert.equal(r.value.deadLettered, 2);
    assert.equal(stub.requests.length, 0, 'nothing reached Discord');
    const letters = listDeadLetters(layout).map((f) => ({ f, l: readDeadLetter(f, sealKey(root)) }));
    const problems = letters.map(({ l }) => (l.ok ? [l.value.kind, l.value.forged?.problem] : ['unreadable'])).sort();
    assert.deepEqual(problems, [['forged', 'bad_mac'], ['forged', 'unsealed']]);
    for (const { f, l } of letters) {
      const refused = requeueDeadLetter(layout, f, Date.now());
      assert.ok(!refused.ok && refused.error.kind === 'invalid_dead_letter', 'replay refuses a forged entry');
      if (l.ok && l.value.forged?.problem === 'bad_mac') {
        const trusted = requeueDeadLetter(layout, f, Date.now(), { trustUnsealed: true });
        assert.ok(!trusted.ok, 'a wrong MAC is never trusted');
      } else {
        const trusted = requeueDeadLetter(layout, f, Date.now(), { trustUnsealed: true });
        assert.deepEqual(trusted, { ok: true, value: 'queued' }, 'an unsealed one from before sealing, vouched for by the admin');
      }
    }
    const again = await drainOutbox(layout, deliver, { now: Date.now, deadlineMs: Date.now() + 5000 });
    assert.ok(again.ok && again.value.delivered === 1, JSON.stringify(again));
  });

  it('a planted file under a notification\'s name does not stand in for it: the real one is queued', () => {
    mkdirSync(layout.outbox, { recursive: true });
    const id = 'INC-20241210-110445-0000b1';
    writeFileSync(path.join(layout.outbox, `${id}__incident.json`), JSON.stringify(item(id)));
    const r = enqueueNotification(layout, { incidentId: id, kind: 'incident', payload: { content: 'real' } }, 5);
    assert.deepEqual(r, { ok: true, value: 'queued' });
    const text = readFileSync(path.join(layout.outbox, `${id}__incident.json`), 'utf8');
    assert.match(text, /"content":"real"/);
    assert.equal(listDeadLetters(layout).length, 1);
  });

  it('an unsealed or changed dead letter is not read as one this install wrote', () => {
    const written = writeDeadLetter(layout, 'payload', '{"sid":"x"}', 'r', 1);
    assert.ok(written.ok);
    const text = JSON.parse(readFileSync(written.value, 'utf8')) as Record<string, unknown>;
    writeFileSync(written.value, JSON.stringify({ ...text, payload: '{"sid":"y"}' }));
    const changed = readDeadLetter(written.value, sealKey(root));
    assert.ok(!changed.ok && changed.error.kind === 'untrusted_dead_letter');
    const { mac: _m, ...bare } = text;
    writeFileSync(written.value, JSON.stringify(bare));
    const inspected = inspectDeadLetter(written.value, sealKey(root));
    assert.ok(inspected.ok && inspected.value.seal === 'unsealed');
  });
});
