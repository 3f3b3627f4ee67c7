/**
 * What a failed connection costs in quota: enrichAddress (the flow every alert run, drain
 * and `soar-edr reputation` lookup takes) against loopback servers that refuse, reset on
 * accept, read and hang up, or answer; the shared quota state is read before and after.
 */
import { fileState } from '../../src/state/file-state';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { QuotaLimiter } from '../../src/intel/quota-limiter';
import { EnrichDeps, enrichAddress } from '../../src/pipeline/enrich';
import { DataLayout, dataLayout } from '../../src/store/data-dir';
import { IntelStub, startVirusTotalStub, VT_OPENCTI_IP, VtAnswer } from '../support/intel-stubs';
import { closedPort, ResetServer, startResetOnAccept } from '../support/net-faults';

describe('pipeline-enrich: the quota slot of a request that never reached the provider', function () {
  this.timeout(30_000);
  let vt: IntelStub<VtAnswer>;
  let resetter: ResetServer;
  let root: string;
  let layout: DataLayout;
  let quota: QuotaLimiter;

  before(async () => {
    vt = await startVirusTotalStub();
    resetter = await startResetOnAccept();
  });
  after(async () => {
    await vt.close();
    await resetter.close();
  });
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-enrich-'));
    layout = dataLayout(root);
    quota = new QuotaLimiter(layout.quota);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function deps(baseUrl: string): EnrichDeps {
    return {
      state: fileState(layout),
      limits: { virustotal: quota.limitsFor('virustotal'), abuseipdb: quota.limitsFor('abuseipdb') },
      fetch: globalThis.fetch,
      env: { SOAR_VIRUSTOTAL_URL: baseUrl },
      now: Date.now,
      sleep: async () => undefined,
      random: () => 0.5,
      deadlineMs: Date.now() + 20_000,
      requestTimeoutMs: 2_000,
    };
  }

  const used = (): [number, number] => {
    const u = quota.usage('virustotal', Date.now());
    return [u.minuteUsed, u.dayUsed];
  };

  it('a closed port (refused, 3 attempts): an error, and no slot spent', async () => {
    const e = await enrichAddress('virustotal', VT_OPENCTI_IP, vt.apiKey, deps(`http://127.0.0.1:${await closedPort()}/api/v3`), 0);
    assert.equal(e.state, 'error');
    if (e.state === 'error') assert.deepEqual([e.error.kind, e.error.network, e.retryable], ['transient', 'connection', true]);
    assert.deepEqual(used(), [0, 0]);
  });

  it('a listener that resets every connection on accept: an error, and no slot spent', async () => {
    const before = resetter.accepted();
    const e = await enrichAddress('virustotal', VT_OPENCTI_IP, vt.apiKey, deps(`http://127.0.0.1:${resetter.port}/api/v3`), 0);
    assert.equal(e.state, 'error');
    if (e.state === 'error') assert.equal(e.error.network, 'reset');
    assert.equal(resetter.accepted() - before, 3, 'three connections, each reset');
    assert.deepEqual(used(), [0, 0]);
  });

  it('a server that read the request and hung up: the slot stays spent (the provider may have counted it)', async () => {
    vt.script('*', 'reset', 'reset', 'reset');
    const asked = vt.requestsFor(VT_OPENCTI_IP);
    const e = await enrichAddress('virustotal', VT_OPENCTI_IP, vt.apiKey, deps(vt.baseUrl), 0);
    assert.equal(e.state, 'error');
    assert.equal(vt.requestsFor(VT_OPENCTI_IP) - asked, 3);
    assert.deepEqual(used(), [1, 1]);
  });

  it('an answer spends the slot; a check that fails before any request (bad base URL) does not', async () => {
    const e = await enrichAddress('virustotal', VT_OPENCTI_IP, vt.apiKey, deps(vt.baseUrl), 0);
    assert.equal(e.state, 'report');
    assert.deepEqual(used(), [1, 1]);
    const bad = await enrichAddress('virustotal', '185.220.101.33', vt.apiKey, deps('ftp://127.0.0.1/api/v3'), 0);
    assert.equal(bad.state, 'error');
    if (bad.state === 'error') assert.equal(bad.error.kind, 'bad_request');
    assert.deepEqual(used(), [1, 1]);
  });
});
