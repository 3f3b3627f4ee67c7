import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { AbuseReport, parseAbuseIpdbCheck } from '../../src/intel/abuseipdb-report';
import {
  AbuseOutcome,
  decideVerdict,
  DEFAULT_THRESHOLDS,
  parseThresholds,
  SEED_COMPATIBLE,
  Verdict,
  verdictRank,
  VerdictThresholds,
  VtOutcome,
} from '../../src/intel/verdict';
import { parseVirusTotalIp, VtIpReport } from '../../src/intel/virustotal-report';
import { readCorpusJson } from './corpus';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function vtReport(body: unknown, ip: string): VtIpReport {
  const r = parseVirusTotalIp(body, ip);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  return r.value;
}
function abuseReport(body: unknown, ip?: string): AbuseReport {
  const r = parseAbuseIpdbCheck(body, ip);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  return r.value;
}

const openctiBody = (): Json => readCorpusJson('virustotal', 'opencti_vt_test_ipv4.json') as Json;
const opencti = (): VtIpReport => vtReport(openctiBody(), '138.128.150.133');
const demisto = (): VtIpReport => vtReport({ data: readCorpusJson('virustotal', 'demisto_VirusTotalV3_test_data_ip_results.json') }, '23.129.64.130');
/** The OpenCTI capture with its stats replaced (other fields stay real). */
function openctiWith(stats: Partial<Record<'malicious' | 'suspicious' | 'harmless' | 'undetected' | 'timeout', number>>): VtIpReport {
  const body = openctiBody();
  Object.assign(body.data.attributes.last_analysis_stats, stats);
  return vtReport(body, '138.128.150.133');
}
const docsAbuse = (): AbuseReport => abuseReport(readCorpusJson('abuseipdb', 'abuseipdb_docs_check_example_response.json'));
const realAbuse = (ip: string): AbuseReport => abuseReport((readCorpusJson('abuseipdb', 'realworld_check_responses_ioc_cache.json') as Json)[ip], ip);

describe('intel/verdict golden verdicts on the corpus', () => {
  it('OpenCTI capture (4 malicious of 93): MALICIOUS under the defaults (>= 3) and seed-compatible (>= 1)', () => {
    assert.deepEqual(decideVerdict({ vt: opencti() }, DEFAULT_THRESHOLDS), { verdict: 'MALICIOUS', reason: '4/93 engines malicious' });
    assert.deepEqual(decideVerdict({ vt: opencti() }, SEED_COMPATIBLE), { verdict: 'MALICIOUS', reason: '4/93 engines malicious' });
  });

  it('demisto sample (5 malicious, 2 suspicious of 87): MALICIOUS under both', () => {
    const expected = { verdict: 'MALICIOUS', reason: '5/87 engines malicious, 2 suspicious' };
    assert.deepEqual(decideVerdict({ vt: demisto() }, DEFAULT_THRESHOLDS), expected);
    assert.deepEqual(decideVerdict({ vt: demisto() }, SEED_COMPATIBLE), expected);
  });

  it('OpenCTI capture with the documented AbuseIPDB example (score 100)', () => {
    assert.deepEqual(decideVerdict({ vt: opencti(), abuse: docsAbuse() }, DEFAULT_THRESHOLDS), {
      verdict: 'MALICIOUS',
      reason: '4/93 engines malicious; AbuseIPDB 100',
    });
  });

  it('where the defaults and seed 002 differ: 1 malicious, or 1 suspicious engine', () => {
    const oneMalicious = openctiWith({ malicious: 1, harmless: 80 });
    assert.equal(decideVerdict({ vt: oneMalicious }, DEFAULT_THRESHOLDS).verdict, 'SUSPICIOUS');
    assert.equal(decideVerdict({ vt: oneMalicious }, SEED_COMPATIBLE).verdict, 'MALICIOUS');
    const oneSuspicious = openctiWith({ malicious: 0, suspicious: 1, harmless: 80 });
    assert.deepEqual(decideVerdict({ vt: oneSuspicious }, DEFAULT_THRESHOLDS), { verdict: 'SAFE', reason: '0/93 engines malicious, 1 suspicious' });
    assert.equal(decideVerdict({ vt: oneSuspicious }, SEED_COMPATIBLE).verdict, 'SUSPICIOUS');
    const clean = openctiWith({ malicious: 0, harmless: 81 });
    assert.deepEqual(decideVerdict({ vt: clean }, DEFAULT_THRESHOLDS), { verdict: 'SAFE', reason: '0/93 engines malicious' });
    assert.equal(decideVerdict({ vt: clean }, SEED_COMPATIBLE).verdict, 'SAFE');
  });

  it('real AbuseIPDB scores with VirusTotal not found: 26 is SUSPICIOUS, 9 is UNKNOWN (never SAFE)', () => {
    const notFound: VtOutcome = { state: 'not_found' };
    assert.deepEqual(decideVerdict({ vt: notFound, abuse: realAbuse('52.113.194.132') }, DEFAULT_THRESHOLDS), {
      verdict: 'SUSPICIOUS',
      reason: 'VirusTotal: not found; AbuseIPDB 26',
    });
    assert.deepEqual(decideVerdict({ vt: notFound, abuse: realAbuse('20.189.173.18') }, DEFAULT_THRESHOLDS), {
      verdict: 'UNKNOWN',
      reason: 'VirusTotal: not found; AbuseIPDB 9',
    });
    // Seed 002 knows only VirusTotal.
    assert.equal(decideVerdict({ vt: notFound, abuse: realAbuse('52.113.194.132') }, SEED_COMPATIBLE).verdict, 'UNKNOWN');
  });

  it('AbuseIPDB 100 makes MALICIOUS even when VirusTotal failed', () => {
    assert.deepEqual(decideVerdict({ vt: { state: 'error', message: 'VirusTotal HTTP 503 TransientError: x' }, abuse: docsAbuse() }, DEFAULT_THRESHOLDS), {
      verdict: 'MALICIOUS',
      reason: 'VirusTotal error: VirusTotal HTTP 503 TransientError: x; AbuseIPDB 100',
    });
  });
});

describe('intel/verdict UNKNOWN, never SAFE, without evidence', () => {
  const cases: [string, VtOutcome | undefined, AbuseOutcome | undefined, string][] = [
    ['not found', { state: 'not_found' }, undefined, 'VirusTotal: not found'],
    ['error', { state: 'error', message: 'VirusTotal HTTP 401 WrongCredentialsError: bad key' }, undefined, 'VirusTotal error: VirusTotal HTTP 401 WrongCredentialsError: bad key'],
    ['quota deferred', { state: 'not_looked_up', reason: 'quota deferred' }, undefined, 'VirusTotal not looked up: quota deferred'],
    ['no key', { state: 'not_looked_up', reason: 'no VirusTotal key' }, { state: 'not_looked_up', reason: 'no AbuseIPDB key' }, 'VirusTotal not looked up: no VirusTotal key; AbuseIPDB not looked up: no AbuseIPDB key'],
    ['private on both', { state: 'not_looked_up', reason: 'private (RFC 1918)' }, { state: 'not_looked_up', reason: 'private (RFC 1918)' }, 'not looked up: private (RFC 1918)'],
    ['nothing at all', undefined, undefined, 'VirusTotal not looked up'],
    ['AbuseIPDB 0 alone', undefined, { state: 'report', ...zeroAbuse() }, 'VirusTotal not looked up; AbuseIPDB 0'],
    ['AbuseIPDB not found and error', { state: 'not_found' }, { state: 'error', message: 'AbuseIPDB HTTP 500: x' }, 'VirusTotal: not found; AbuseIPDB error: AbuseIPDB HTTP 500: x'],
    ['AbuseIPDB without score', { state: 'not_found' }, { state: 'not_found' }, 'VirusTotal: not found; AbuseIPDB: not found'],
  ];
  for (const [name, vt, abuse, reason] of cases) {
    it(name, () => {
      for (const t of [DEFAULT_THRESHOLDS, SEED_COMPATIBLE]) {
        assert.deepEqual(decideVerdict({ vt, abuse }, t), { verdict: 'UNKNOWN', reason });
      }
    });
  }

  it('a VirusTotal report without stats', () => {
    const body = openctiBody();
    delete body.data.attributes.last_analysis_stats;
    const vt = vtReport(body, '138.128.150.133');
    for (const t of [DEFAULT_THRESHOLDS, SEED_COMPATIBLE]) {
      assert.deepEqual(decideVerdict({ vt }, t), { verdict: 'UNKNOWN', reason: 'VirusTotal: no analysis stats' });
    }
  });

  it('a VirusTotal report with too few answering engines (timeouts do not count)', () => {
    const vt = openctiWith({ malicious: 0, harmless: 10, undetected: 5, timeout: 70 });
    assert.deepEqual(decideVerdict({ vt }, DEFAULT_THRESHOLDS), {
      verdict: 'UNKNOWN',
      reason: '0/85 engines malicious; too few engines answered for SAFE (15 < 30)',
    });
    assert.equal(decideVerdict({ vt }, SEED_COMPATIBLE).verdict, 'SAFE');
  });

  it('AbuseIPDB report with a null score says so', () => {
    const abuse: AbuseReport = { ...docsAbuse(), abuseConfidenceScore: null };
    assert.equal(decideVerdict({ vt: opencti(), abuse }, DEFAULT_THRESHOLDS).reason, '4/93 engines malicious; AbuseIPDB: no score');
  });

  it('keeps the reason on one line whatever the messages hold', () => {
    const d = decideVerdict({ vt: { state: 'error', message: 'a\nb\r\nc' }, abuse: { state: 'not_looked_up', reason: 'x\u2028y' } }, DEFAULT_THRESHOLDS);
    assert.equal(d.reason, 'VirusTotal error: a b c; AbuseIPDB not looked up: x y');
  });
});

function zeroAbuse(): Omit<AbuseReport, 'state'> {
  return {
    ipAddress: '8.8.8.8', isPublic: true, ipVersion: 4, isWhitelisted: null, abuseConfidenceScore: 0, countryCode: null, countryName: null,
    usageType: null, isp: null, domain: null, hostnames: [], isTor: false, totalReports: 0, numDistinctUsers: 0, lastReportedAt: null, link: null,
  };
}

describe('intel/verdict thresholds', () => {
  it('a null threshold never triggers', () => {
    const off: VerdictThresholds = { ...DEFAULT_THRESHOLDS, vtMalicious: null, vtMaliciousSuspicious: null, vtSuspicious: null };
    assert.equal(decideVerdict({ vt: demisto() }, off).verdict, 'SAFE');
    assert.equal(decideVerdict({ vt: demisto(), abuse: docsAbuse() }, off).verdict, 'MALICIOUS');
  });

  it('verdictRank orders SAFE < UNKNOWN < SUSPICIOUS < MALICIOUS', () => {
    const order: Verdict[] = ['SAFE', 'UNKNOWN', 'SUSPICIOUS', 'MALICIOUS'];
    const ranks = order.map(verdictRank);
    assert.deepEqual([...ranks].sort((a, b) => a - b), ranks);
    assert.equal(new Set(ranks).size, 4);
  });

  describe('parseThresholds', () => {
    it('no params: the documented defaults', () => {
      assert.deepEqual(parseThresholds({}), { ok: true, value: DEFAULT_THRESHOLDS });
      assert.deepEqual(DEFAULT_THRESHOLDS, { vtMalicious: 3, vtMaliciousSuspicious: 1, vtSuspicious: 2, vtMinEngines: 30, abuseMalicious: 75, abuseSuspicious: 25 });
    });
    it('verdict_preset picks the base; params override it; empty params and unrelated keys are ignored', () => {
      assert.deepEqual(parseThresholds({ verdict_preset: ' Seed-Compatible ' }), { ok: true, value: SEED_COMPATIBLE });
      const r = parseThresholds({
        verdict_preset: 'default', vt_malicious_threshold: ' 5 ', vt_suspicious_threshold: 'OFF', abuse_malicious_score: '90',
        abuse_suspicious_score: '', vt_min_engines: '0', address_fields: 'src_ip', log_level: 'DEBUG',
      });
      assert.deepEqual(r, { ok: true, value: { vtMalicious: 5, vtMaliciousSuspicious: 1, vtSuspicious: null, vtMinEngines: 0, abuseMalicious: 90, abuseSuspicious: 25 } });
      assert.deepEqual(parseThresholds({ abuse_malicious_score: 'none', abuse_suspicious_score: 'disabled' }), {
        ok: true, value: { ...DEFAULT_THRESHOLDS, abuseMalicious: null, abuseSuspicious: null },
      });
    });
    const bad: [Record<string, string>, string][] = [
      [{ vt_malicious_threshold: 'abc' }, 'vt_malicious_threshold is "abc"; expected a whole number from 1 to 1000 or "off"'],
      [{ vt_malicious_threshold: '0' }, 'vt_malicious_threshold is "0"'],
      [{ vt_malicious_suspicious_threshold: '2.5' }, 'vt_malicious_suspicious_threshold is "2.5"'],
      [{ vt_suspicious_threshold: '-1' }, 'vt_suspicious_threshold is "-1"'],
      [{ vt_suspicious_threshold: '1e3' }, 'vt_suspicious_threshold is "1e3"'],
      [{ vt_min_engines: 'off' }, 'vt_min_engines is "off"; expected a whole number from 0 to 1000'],
      [{ abuse_malicious_score: '101' }, 'abuse_malicious_score is "101"; expected a whole number from 1 to 100 or "off"'],
      [{ abuse_suspicious_score: '0' }, 'abuse_suspicious_score is "0"'],
      [{ verdict_preset: 'strict' }, 'verdict_preset is "strict"; expected one of default, seed-compatible'],
      [{ verdict_preset: 'constructor' }, 'verdict_preset is "constructor"'],
      [{ vt_malicious_threshold: '2', vt_malicious_suspicious_threshold: '3' }, 'vt_malicious_suspicious_threshold (3) is above vt_malicious_threshold (2)'],
      [{ abuse_suspicious_score: '80' }, 'abuse_suspicious_score (80) is above abuse_malicious_score (75)'],
    ];
    for (const [config, message] of bad) {
      it(`rejects ${JSON.stringify(config)}`, () => {
        const r = parseThresholds(config);
        assert.equal(r.ok, false);
        if (r.ok) return;
        assert.equal(r.error.kind, 'invalid_threshold');
        assert.ok(r.error.message.includes(message), r.error.message);
      });
    }
    it('names every bad param in one error, and cuts long values', () => {
      const r = parseThresholds({ vt_malicious_threshold: 'x', abuse_malicious_score: 'y'.repeat(500) });
      assert.ok(!r.ok);
      assert.match(r.error.message, /vt_malicious_threshold is "x".*; abuse_malicious_score is "y{30}…"/);
      assert.ok(r.error.message.length < 400);
    });
  });
});

// ---------------------------------------------------------------------------------------
// Properties

const thresholdsArb: fc.Arbitrary<VerdictThresholds> = fc
  .record({
    vtMalicious: fc.option(fc.integer({ min: 1, max: 200 }), { nil: null }),
    vtMaliciousSuspicious: fc.option(fc.integer({ min: 1, max: 200 }), { nil: null }),
    vtSuspicious: fc.option(fc.integer({ min: 1, max: 200 }), { nil: null }),
    vtMinEngines: fc.integer({ min: 0, max: 200 }),
    abuseMalicious: fc.option(fc.integer({ min: 1, max: 100 }), { nil: null }),
    abuseSuspicious: fc.option(fc.integer({ min: 1, max: 100 }), { nil: null }),
  })
  .chain((t) => fc.constantFrom(t, DEFAULT_THRESHOLDS, SEED_COMPATIBLE));

const textArb = fc.string({ maxLength: 80 });
const notReportArb: fc.Arbitrary<VtOutcome | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constant({ state: 'not_found' } as const),
  textArb.map((message) => ({ state: 'error', message }) as const),
  textArb.map((reason) => ({ state: 'not_looked_up', reason }) as const),
);
const statsArb = fc.record({
  malicious: fc.nat(150), suspicious: fc.nat(150), harmless: fc.nat(150), undetected: fc.nat(150), timeout: fc.nat(150),
});
const statsFreeVtArb: fc.Arbitrary<VtIpReport> = statsArb.map((stats) => ({
  ...opencti(), stats, statsPresent: false, missingStats: ['malicious', 'suspicious', 'harmless', 'undetected', 'timeout'],
  engines: stats.malicious + stats.suspicious + stats.harmless + stats.undetected + stats.timeout,
}));
const abuseArb: fc.Arbitrary<AbuseOutcome | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constant({ state: 'not_found' } as const),
  textArb.map((message) => ({ state: 'error', message }) as const),
  textArb.map((reason) => ({ state: 'not_looked_up', reason }) as const),
  fc.option(fc.integer({ min: 0, max: 100 }), { nil: null }).map((score) => ({ ...docsAbuse(), abuseConfidenceScore: score })),
);

describe('intel/verdict properties', () => {
  it('never SAFE when VirusTotal gave no report (or a report without stats), whatever AbuseIPDB said', () => {
    fc.assert(
      fc.property(fc.oneof(notReportArb, statsFreeVtArb), abuseArb, thresholdsArb, (vt, abuse, t) => {
        const d = decideVerdict({ vt, abuse }, t);
        assert.notEqual(d.verdict, 'SAFE');
        assert.ok(!/[\r\n]/.test(d.reason));
      }),
      { numRuns: 2000 },
    );
  });

  it('more malicious engines or a higher AbuseIPDB score never lower the verdict', () => {
    fc.assert(
      fc.property(statsArb, fc.nat(20), fc.integer({ min: 0, max: 100 }), fc.nat(100), thresholdsArb, (stats, extra, score, extraScore, t) => {
        const report = (s: typeof stats): VtIpReport => ({
          ...opencti(), stats: s, engines: s.malicious + s.suspicious + s.harmless + s.undetected + s.timeout,
        });
        const abuse = (v: number): AbuseReport => ({ ...docsAbuse(), abuseConfidenceScore: Math.min(100, v) });
        const base = decideVerdict({ vt: report(stats), abuse: abuse(score) }, t).verdict;
        const moreEngines = decideVerdict({ vt: report({ ...stats, malicious: stats.malicious + extra }), abuse: abuse(score) }, t).verdict;
        const moreScore = decideVerdict({ vt: report(stats), abuse: abuse(score + extraScore) }, t).verdict;
        // (An UNKNOWN for too few engines may become SAFE once more engines answered: not a step down in evidence.)
        if (base !== 'UNKNOWN') assert.ok(verdictRank(moreEngines) >= verdictRank(base), `${base} -> ${moreEngines}`);
        assert.ok(verdictRank(moreScore) >= verdictRank(base), `${base} -> ${moreScore}`);
      }),
      { numRuns: 1000 },
    );
  });

  it('the reason always gives malicious/total engines from the five stats when VirusTotal reported', () => {
    fc.assert(
      fc.property(statsArb, thresholdsArb, (stats, t) => {
        const engines = stats.malicious + stats.suspicious + stats.harmless + stats.undetected + stats.timeout;
        const d = decideVerdict({ vt: { ...opencti(), stats, engines } }, t);
        assert.ok(d.reason.startsWith(`${stats.malicious}/${engines} engines malicious`), d.reason);
      }),
      { numRuns: 500 },
    );
  });
});
