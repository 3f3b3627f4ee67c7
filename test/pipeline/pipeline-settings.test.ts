import assert from 'node:assert/strict';
import { SEED_COMPATIBLE } from '../../src/intel/verdict';
import { clampMessage, DEFAULT_HOST_LIMITS, DEFAULT_SETTINGS, HOST_LIMITED, HostLimits, parseDuration, parsePipelineSettings } from '../../src/pipeline/settings';

describe('pipeline settings', () => {
  it('no params: the documented defaults', () => {
    const { settings, problems } = parsePipelineSettings({});
    assert.deepEqual(problems, []);
    assert.deepEqual(settings, DEFAULT_SETTINGS);
    assert.deepEqual([...settings.blockVerdicts], ['MALICIOUS']);
    assert.equal(settings.vtPerMinute, 4);
    assert.equal(settings.vtPerDay, 500);
  });

  it('parses durations', () => {
    assert.deepEqual(parseDuration('90'), { ok: true, value: 90 });
    assert.deepEqual(parseDuration('15m'), { ok: true, value: 900 });
    assert.deepEqual(parseDuration('24H'), { ok: true, value: 86400 });
    assert.deepEqual(parseDuration('2w'), { ok: true, value: 1209600 });
    assert.equal(parseDuration('1.5h').ok, false);
    assert.equal(parseDuration('-5m').ok, false);
  });

  it('reads every param', () => {
    const { settings, problems } = parsePipelineSettings({
      allowlist: '10.0.0.0/8, 198.51.100.0/24',
      verdict_preset: 'seed-compatible',
      block_verdicts: 'malicious,suspicious',
      block_private: 'true',
      block_duration: '1h',
      block_max_duration: '7d',
      renotify_window: '30m',
      cache_ttl: '12h',
      vt_requests_per_minute: '500',
      vt_requests_per_day: '30000',
      abuseipdb_requests_per_day: '3000',
      request_timeout: '5s',
    }, { vtPerMinute: 1000, vtPerDay: 100_000, abusePerDay: 10_000, blockSeconds: 86400, blockMaxSeconds: 30 * 86400 });
    assert.deepEqual(problems, []);
    assert.deepEqual(settings.allowlist.map((c) => c.text), ['10.0.0.0/8', '198.51.100.0/24']);
    assert.deepEqual(settings.thresholds, SEED_COMPATIBLE);
    assert.deepEqual([...settings.blockVerdicts].sort(), ['MALICIOUS', 'SUSPICIOUS']);
    assert.deepEqual(
      [settings.blockPrivate, settings.blockSeconds, settings.blockMaxSeconds, settings.renotifySeconds, settings.cacheTtlSeconds, settings.vtPerMinute, settings.vtPerDay, settings.abusePerDay, settings.requestTimeoutMs],
      [true, 3600, 604800, 1800, 43200, 500, 30000, 3000, 5000],
    );
    assert.equal(parsePipelineSettings({ block_verdicts: 'none' }).settings.blockVerdicts.size, 0);
  });

  it('reports each bad param, naming it, and keeps its default', () => {
    const { settings, problems } = parsePipelineSettings({
      allowlist: '10.0.0.0/33',
      block_verdicts: 'EVIL',
      block_private: 'maybe',
      block_duration: 'forever',
      renotify_window: '400d',
      vt_requests_per_minute: '0',
      vt_malicious_threshold: 'many',
    });
    const named = problems.map((p) => /param (\w+)/.exec(p.message)?.[1] ?? p.message);
    for (const name of ['allowlist', 'block_verdicts', 'block_private', 'block_duration', 'renotify_window', 'vt_requests_per_minute']) {
      assert.ok(named.includes(name), `${name} reported: ${named.join(' | ')}`);
    }
    assert.ok(problems.some((p) => p.message.includes('vt_malicious_threshold')));
    assert.deepEqual(
      [settings.allowlist.length, [...settings.blockVerdicts], settings.blockPrivate, settings.blockSeconds, settings.renotifySeconds, settings.vtPerMinute],
      [0, ['MALICIOUS'], false, 86400, 3600, 4],
    );
    assert.deepEqual(settings.thresholds, DEFAULT_SETTINGS.thresholds);
  });

  it('refuses a maximum block shorter than the base block', () => {
    const { settings, problems } = parsePipelineSettings({ block_duration: '2d', block_max_duration: '1d' });
    assert.equal(problems.length, 1);
    assert.equal(settings.blockMaxSeconds, 172800);
  });

  describe('host limits: params may lower them, never raise them', () => {
    const host: HostLimits = { vtPerMinute: 10, vtPerDay: 1000, abusePerDay: 2000, blockSeconds: 3600, blockMaxSeconds: 86400 };

    it('no limited param: the host limits apply; the shipped ones without a host conf', () => {
      const r = parsePipelineSettings({ vt_requests_per_minute: '', block_duration: '' }, host);
      assert.deepEqual([r.problems, r.clamped], [[], []]);
      assert.deepEqual([r.settings.vtPerMinute, r.settings.vtPerDay, r.settings.abusePerDay, r.settings.blockSeconds, r.settings.blockMaxSeconds], [10, 1000, 2000, 3600, 86400]);
      assert.deepEqual(parsePipelineSettings({}).settings.vtPerMinute, DEFAULT_HOST_LIMITS.vtPerMinute);
    });

    it('a lower param applies as asked', () => {
      const r = parsePipelineSettings({ vt_requests_per_minute: '2', vt_requests_per_day: '50', abuseipdb_requests_per_day: '7', block_duration: '10m', block_max_duration: '2h' }, host);
      assert.deepEqual([r.problems, r.clamped], [[], []]);
      assert.deepEqual([r.settings.vtPerMinute, r.settings.vtPerDay, r.settings.abusePerDay, r.settings.blockSeconds, r.settings.blockMaxSeconds], [2, 50, 7, 600, 7200]);
    });

    it('every limited param above the host limit is clamped and reported once, naming the param, the value asked and the limit', () => {
      const asked = { vt_requests_per_minute: '100000', vt_requests_per_day: '5000', abuseipdb_requests_per_day: '9999', block_duration: '2d', block_max_duration: '30d' };
      const r = parsePipelineSettings(asked, host);
      assert.deepEqual(r.problems, []);
      assert.deepEqual(r.clamped.map((c) => [c.param, c.asked, c.limit]), [
        ['vt_requests_per_minute', '100000', 10],
        ['vt_requests_per_day', '5000', 1000],
        ['abuseipdb_requests_per_day', '9999', 2000],
        ['block_duration', '2d', 3600],
        ['block_max_duration', '30d', 86400],
      ]);
      assert.deepEqual([r.settings.vtPerMinute, r.settings.vtPerDay, r.settings.abusePerDay, r.settings.blockSeconds, r.settings.blockMaxSeconds], [10, 1000, 2000, 3600, 86400]);
      assert.match(clampMessage(r.clamped[0]!), /vt_requests_per_minute = 100000 .*limit \(10\).*soar_edr\.conf/);
      assert.deepEqual(HOST_LIMITED.map((l) => l.param), Object.keys(asked));
    });

    it('a lowered maximum caps the first block too; a bad limited value is a problem and the host limit applies', () => {
      assert.equal(parsePipelineSettings({ block_max_duration: '30m' }, host).settings.blockSeconds, 1800);
      const r = parsePipelineSettings({ vt_requests_per_minute: 'lots' }, host);
      assert.equal(r.problems.length, 1);
      assert.match(r.problems[0]!.message, /param vt_requests_per_minute: .*using the host limit/);
      assert.equal(r.settings.vtPerMinute, 10);
    });

    it('param names that are Object.prototype members are ordinary, unknown params', () => {
      const params = JSON.parse('{"__proto__":"x","constructor":"y","toString":"z","hasOwnProperty":"1","valueOf":"2","prototype":"3","isPrototypeOf":"4"}') as Record<string, string>;
      const r = parsePipelineSettings(params);
      assert.deepEqual(r.problems, []);
      assert.deepEqual(r.settings, DEFAULT_SETTINGS);
    });
  });
});
