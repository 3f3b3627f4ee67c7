/**
 * iocs benchmark (issue 5, Speed): 50 MB of threat-report text built from the real reports in
 * test/fixtures/corpus/iocs (bench/iocs-input.ts; BENCH_IOCS_MB scales it), read by
 * `node dist/cli/soar-edr.cjs iocs FILE --format json` and by seed 003's Python extractor
 * (seed003_iocs.py in SOAR_BASELINES_DIR, when given) in the same run, pinned to one core, interleaved,
 * medians. Target: at least twice as fast, with more correct results. Correctness is counted
 * on two corpus files with ground truth, both tools' outputs side by side:
 *  - ESET Zebrocy .adoc against its MISP JSON export (hash, URL and email attributes that
 *    appear in the text, plus the table's SHA-1 the export lacks),
 *  - Unit 42 Trickbot: 101 SHA256, the 9 defanged IPv4 plus the mail header's
 *    [208.75.123.201], the 3 hxxp(s) URLs, the 3 defanged domains and the email addresses
 *    (test/fixtures/corpus/iocs/SOURCES.md).
 * A reported value that is the host of an expected URL or the domain of an expected email is
 * counted apart ("hosts"); any other reported value is a false positive.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { BenchLine } from './alert-action.bench';
import { baselineScript, ChildRun, CLI, loadNote, pinning, runChild, skippedBaseline } from './child-measure';
import { iocReportPath, iocsInput } from './iocs-input';
import { median } from './stats';

const PYTHON = baselineScript('seed003_iocs.py');
const BASELINES = PYTHON === null ? '' : path.dirname(PYTHON);
// The baseline prints only counts; its own extract_iocs() gives the values (imported by path).
const PYTHON_VALUES = `import sys, json; sys.path.insert(0, ${JSON.stringify(BASELINES)}); from seed003_iocs import extract_iocs
print(json.dumps(extract_iocs(open(sys.argv[1], encoding='utf-8', errors='replace').read())))`;

interface Truth {
  /** Expected indicators, lower-case. */
  readonly expected: ReadonlySet<string>;
  /** Hosts of expected URLs and domains of expected emails, lower-case. */
  readonly hosts: ReadonlySet<string>;
}

interface Score {
  readonly correct: number;
  readonly hosts: number;
  readonly falsePositives: string[];
  readonly missed: string[];
}

function all(text: string, re: RegExp, group = 0): string[] {
  return [...text.matchAll(re)].map((m) => m[group]!);
}

function naiveRefang(s: string): string {
  return s.replace(/\[\.\]/g, '.').replace(/^hxxp/i, 'http');
}

function hostOf(value: string): string | null {
  const at = value.lastIndexOf('@');
  if (!value.includes('://')) return at > 0 ? value.slice(at + 1) : null;
  try {
    return new URL(value).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return null;
  }
}

function truth(values: readonly string[]): Truth {
  const expected = new Set(values.map((v) => v.toLowerCase()));
  const hosts = new Set<string>();
  for (const v of expected) {
    const h = hostOf(v);
    if (h !== null) hosts.add(h);
  }
  return { expected, hosts };
}

function zebrocyTruth(): Truth {
  const adoc = readFileSync(iocReportPath('eset_2018-11-20_Zebrocy.adoc'), 'utf8').toLowerCase();
  const misp = JSON.parse(readFileSync(iocReportPath('eset_2018-11-20_Zebrocy.json'), 'utf8')) as {
    response: { Event: { Attribute: { type: string; value: string }[] } }[];
  };
  const kinds = new Set(['sha1', 'md5', 'sha256', 'url', 'email-src', 'email-dst']);
  const values: string[] = [];
  for (const a of misp.response[0]!.Event.Attribute) {
    const type = a.type.startsWith('filename|') ? a.type.slice('filename|'.length) : a.type;
    const value = (a.type.startsWith('filename|') ? a.value.slice(a.value.lastIndexOf('|') + 1) : a.value).toLowerCase();
    if (kinds.has(type) && adoc.includes(value)) values.push(value);
  }
  values.push(...all(adoc, /(?<![0-9a-f])[0-9a-f]{40}(?![0-9a-f])/g));
  return truth(values);
}

function trickbotTruth(): Truth {
  const text = readFileSync(iocReportPath('unit42_2020-08-24-IOCs-for-Trickbot-gtag-ono66.txt'), 'utf8');
  return truth([
    ...all(text, /(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])/g),
    ...all(text, /\b\d{1,3}\.\d{1,3}\.\d{1,3}\[\.\]\d{1,3}\b/g).map(naiveRefang),
    ...all(text, /\[(\d{1,3}(?:\.\d{1,3}){3})\]/g, 1),
    ...all(text, /\bhxxps?:\/\/\S+/g).map(naiveRefang),
    ...all(text, /[a-z0-9.-]+\[\.\][a-z]+/gi).map(naiveRefang),
    ...all(text, /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g),
  ]);
}

function score(reported: readonly string[], t: Truth): Score {
  const seen = new Set(reported.map((v) => v.toLowerCase()));
  let correct = 0;
  let hosts = 0;
  const falsePositives: string[] = [];
  for (const v of seen) {
    if (t.expected.has(v)) correct++;
    else if (t.hosts.has(v)) hosts++;
    else falsePositives.push(v);
  }
  return { correct, hosts, falsePositives, missed: [...t.expected].filter((v) => !seen.has(v)) };
}

function describe(s: Score, t: Truth): string {
  const fp = s.falsePositives.length === 0 ? '0 false positives' : `${s.falsePositives.length} false positives (${s.falsePositives.slice(0, 6).join(', ')}${s.falsePositives.length > 6 ? ', ...' : ''})`;
  return `${s.correct}/${t.expected.size} correct, ${s.missed.length} missed, ${fp}, ${s.hosts} hosts of listed URLs/emails`;
}

async function oursValues(file: string): Promise<string[]> {
  const r = await runChild(process.execPath, [CLI, 'iocs', file, '--format', 'json']);
  if (r.code !== 0 && r.code !== 1) throw new Error(`soar-edr iocs exited ${r.code}: ${r.stderr.slice(-2000)}`);
  const doc = JSON.parse(r.stdout) as { iocs: Record<string, string[]> };
  return Object.values(doc.iocs).flat();
}

async function pythonValues(file: string): Promise<string[]> {
  const r = await runChild('python3', ['-c', PYTHON_VALUES, file]);
  if (r.code !== 0) throw new Error(`seed003_iocs extract_iocs failed: ${r.stderr.slice(-2000)}`);
  return Object.values(JSON.parse(r.stdout) as Record<string, string[]>).flat();
}

export async function benchIocs(runs: number): Promise<BenchLine[]> {
  const mb = Number(process.env.BENCH_IOCS_MB ?? 50);
  const input = await iocsInput(mb);
  const n = Math.max(3, Math.floor(runs / 3));
  const ours: ChildRun[] = [];
  const py: ChildRun[] = [];
  for (let i = 0; i < n; i++) {
    const r = await runChild(process.execPath, [CLI, 'iocs', input.file, '--format', 'json']);
    if (r.code !== 0) throw new Error(`soar-edr iocs exited ${r.code}: ${r.stderr.slice(-2000)}`);
    ours.push(r);
    if (PYTHON !== null) {
      const p = await runChild('python3', [PYTHON, input.file]);
      if (p.code !== 0) throw new Error(`seed003_iocs.py exited ${p.code}: ${p.stderr.slice(-2000)}`);
      py.push(p);
    }
  }
  const oursMs = median(ours.map((r) => r.ms));
  const pyMs = median(py.map((r) => r.ms));
  const mib = input.bytes / 2 ** 20;
  const speed = (ms: number): string => `${((mib * 1000) / ms).toFixed(1)} MiB/s (${(ms / 1000).toFixed(2)} s)`;
  const rss = (rs: ChildRun[]): string => `${Math.max(...rs.map((r) => r.rssMb ?? NaN)).toFixed(0)} MB`;
  const counts = (r: ChildRun): string => {
    const doc = JSON.parse(r.stdout) as { total: number };
    return `${doc.total.toLocaleString('en-US')} unique indicators`;
  };
  const lines: BenchLine[] = [
    {
      name: `soar-edr iocs --format json, ${mib.toFixed(0)} MiB of report text, ${pinning()}, median of ${n}`,
      value: `${speed(oursMs)}, peak RSS ${rss(ours)}, ${counts(ours[0]!)}; ${loadNote([...ours, ...py])}`,
      target: 'reference for the next line',
      pass: true,
    },
    PYTHON === null
      ? skippedBaseline('the lab IOC extractor script (Python)', 'seed003_iocs.py')
      : {
          name: `the lab IOC extractor script (Python, seed003_iocs.py), same file, median of ${n}`,
          value: `${speed(pyMs)}, peak RSS ${rss(py)}; ours ${(pyMs / oursMs).toFixed(2)}x as fast`,
          target: 'ours >= 2x as fast',
          pass: pyMs / oursMs >= 2,
        },
  ];
  for (const [label, file, t] of [
    ['ESET Zebrocy .adoc vs its MISP JSON', iocReportPath('eset_2018-11-20_Zebrocy.adoc'), zebrocyTruth()],
    ['Unit 42 Trickbot (101 SHA256, 10 IPv4, 3 URLs, 3 domains, emails)', iocReportPath('unit42_2020-08-24-IOCs-for-Trickbot-gtag-ono66.txt'), trickbotTruth()],
  ] as const) {
    const o = score(await oursValues(file), t);
    if (PYTHON === null) {
      lines.push({ name: `iocs correctness, ${label}`, value: `soar-edr: ${describe(o, t)}`, target: 'reference (no baseline to compare with)', pass: true });
      continue;
    }
    const p = score(await pythonValues(file), t);
    lines.push({
      name: `iocs correctness, ${label}`,
      value: `soar-edr: ${describe(o, t)} | lab script: ${describe(p, t)}`,
      target: 'more correct and fewer false positives than the lab script',
      pass: o.correct > p.correct && o.falsePositives.length <= p.falsePositives.length,
    });
  }
  return lines;
}
