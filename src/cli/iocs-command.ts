/**
 * `soar-edr iocs FILE|-`: every indicator in threat-report text (IPv4, IPv6, domains, URLs,
 * email addresses, MD5 / SHA-1 / SHA-256 / SHA-512 hashes, CVE ids), refanged, deduplicated in
 * first-seen order, optionally defanged again for output. A thin shell over src/analysis/iocs.ts.
 */
import { Command } from 'commander';
import { createIocExtractor, defang, IOC_TYPES, IocSet, IocType, parseIocTypes } from '../analysis/iocs';
import { readText } from '../analysis/log-stream';
import { fail, ok, Result } from '../result';
import { inputNames, readInputs, usageComplaint } from './analysis-input';
import { lookUpReputation, ReputationRecord, verdictText } from './enrich-summary';
import type { InputReport } from './failure-summary';
import { addOutputOptions, Column, OutputFormat, renderCsv, renderTable, writeOutput } from './output-format';
import type { CliIO } from './runtime';
import { complain } from './runtime';

export const IOCS_EXIT = {
  /** At least one indicator found (like grep: 0 means found). */
  FOUND: 0,
  /** Everything was read; no indicator (of the --type asked for). */
  NONE: 1,
  USAGE: 2,
  /** An input could not be read (completely); what was read is reported. */
  UNREADABLE: 3,
  /** The output could not be written. */
  OUTPUT_FAILED: 4,
  /** --enrich could not look up every indicator. */
  ENRICH_INCOMPLETE: 5,
} as const;

/** The name each kind has in the output (the core's list names are plural). */
export const IOC_LABEL: Readonly<Record<IocType, string>> = {
  ipv4: 'ipv4',
  ipv6: 'ipv6',
  domains: 'domain',
  urls: 'url',
  emails: 'email',
  md5: 'md5',
  sha1: 'sha1',
  sha256: 'sha256',
  sha512: 'sha512',
  cves: 'cve',
};

const TYPE_ALIASES: Readonly<Record<string, readonly IocType[]>> = {
  ip: ['ipv4', 'ipv6'],
  ips: ['ipv4', 'ipv6'],
  domain: ['domains'],
  url: ['urls'],
  email: ['emails'],
  cve: ['cves'],
  hash: ['md5', 'sha1', 'sha256', 'sha512'],
  hashes: ['md5', 'sha1', 'sha256', 'sha512'],
};

/**
 * --type values ("ipv4,sha256", "domain", "hash"; the option may be repeated) as the core's
 * kinds, in the core's order. Singular and plural names are both accepted.
 */
export function parseTypeFilter(values: readonly string[]): Result<IocType[], 'usage'> {
  const names = values
    .flatMap((v) => v.split(','))
    .map((n) => n.trim().toLowerCase())
    .filter((n) => n !== '');
  const expanded = names.flatMap((n) => TYPE_ALIASES[n] ?? [n]);
  const parsed = parseIocTypes(expanded.join(','));
  if (!parsed.ok) {
    return fail('usage', `--type: ${parsed.error.message.replace(/expected.*$/, '')}expected a comma-separated list of: ${Object.values(IOC_LABEL).join(', ')} (or ip, hash)`);
  }
  const wanted = new Set(parsed.value);
  return ok(IOC_TYPES.filter((t) => wanted.has(t)));
}

export interface IocRow {
  readonly type: IocType;
  /** Refanged and normalised, as looked up. */
  readonly ioc: string;
  /** As printed: the indicator, or its defanged spelling with --defang. */
  readonly value: string;
}

/** One row per indicator, kinds in the core's order, each kind in first-seen order. */
export function iocRows(set: IocSet, types: readonly IocType[], defangOutput: boolean): IocRow[] {
  const rows: IocRow[] = [];
  for (const type of types) for (const ioc of set[type]) rows.push({ type, ioc, value: defangOutput ? defang(ioc, type) : ioc });
  return rows;
}

/** The kinds reputation looks up (VirusTotal: IPs, domains, MD5/SHA-1/SHA-256; AbuseIPDB: IPs). */
export const ENRICHED_TYPES: readonly IocType[] = ['ipv4', 'ipv6', 'domains', 'md5', 'sha1', 'sha256'];

export function enrichTargets(rows: readonly IocRow[]): string[] {
  return rows.filter((r) => ENRICHED_TYPES.includes(r.type)).map((r) => r.ioc);
}

function iocColumns(reputation?: ReadonlyMap<string, ReputationRecord>): Column<IocRow>[] {
  const cols: Column<IocRow>[] = [
    { header: 'type', value: (r) => IOC_LABEL[r.type] },
    { header: 'value', value: (r) => r.value },
  ];
  if (reputation !== undefined) {
    cols.push(
      { header: 'verdict', value: (r) => verdictText(reputation.get(r.ioc)) },
      { header: 'reason', value: (r) => reputation.get(r.ioc)?.reason ?? null },
    );
  }
  return cols;
}

/** What `soar-edr iocs` found, as every output format shows it. */
export interface IocsReport {
  readonly inputs: readonly InputReport[];
  readonly rows: readonly IocRow[];
  /** The kinds asked for (each gets a list in the JSON, even an empty one). */
  readonly types: readonly IocType[];
  readonly defanged: boolean;
  /** Verdicts per indicator, present when --enrich ran. */
  readonly reputation?: ReadonlyMap<string, ReputationRecord>;
}

/** The JSON document: inputs, counts per kind and the lists, keyed by the output names. */
export function iocsJson({ inputs, rows, types, defanged, reputation }: IocsReport): string {
  const lists: Record<string, string[]> = {};
  for (const t of types) lists[IOC_LABEL[t]] = [];
  for (const r of rows) lists[IOC_LABEL[r.type]]!.push(r.value);
  const counts: Record<string, number> = {};
  for (const [k, v] of Object.entries(lists)) counts[k] = v.length;
  return (
    JSON.stringify(
      {
        command: 'iocs',
        inputs: inputs.map((i) => ({ name: i.name, bytes: i.bytes, gzip: i.gzip, error: i.error })),
        defanged,
        total: rows.length,
        counts,
        iocs: lists,
        ...(reputation !== undefined ? { reputation: [...reputation.values()] } : {}),
      },
      null,
      2,
    ) + '\n'
  );
}

/** The output in the chosen format; the table never cuts a value (a hash or URL must stay whole). */
export function renderIocs(format: OutputFormat, report: IocsReport): string {
  if (format === 'json') return iocsJson(report);
  const { rows, types, reputation } = report;
  if (format === 'csv') return renderCsv(iocColumns(reputation), rows);
  if (rows.length === 0) return 'no indicators found\n';
  const counts = types
    .map((t) => [t, rows.filter((r) => r.type === t).length] as const)
    .filter(([, n]) => n > 0)
    .map(([t, n]) => `${n} ${IOC_LABEL[t]}`);
  return `${rows.length} indicator${rows.length === 1 ? '' : 's'}: ${counts.join(', ')}\n\n${renderTable(iocColumns(reputation), rows, Number.POSITIVE_INFINITY)}`;
}

interface IocsOptions {
  type?: string[];
  defang?: boolean;
  urlHosts: boolean;
  enrich?: boolean;
  format: OutputFormat;
  out?: string;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function iocsCommand(io: CliIO): Command {
  const cmd = new Command('iocs')
    .description('extract indicators (IPs, domains, URLs, emails, hashes, CVEs) from report text, refanged and deduplicated')
    .argument('[file...]', 'text files (plain or .gz), or - for standard input (default: standard input)')
    .option('--type <list>', `only these kinds, comma-separated or repeated: ${Object.values(IOC_LABEL).join(', ')}, ip (both), hash (all four)`, collect)
    .option('--defang', 'print indicators defanged (1.2.3[.]4, example[.]com, hxxps://…) so they cannot be clicked')
    .option('--no-url-hosts', 'do not also list the host of each URL and the domain of each email address on their own')
    .option('--enrich', 'look the public IP addresses, domains and hashes up with VirusTotal (and IPs with AbuseIPDB)');
  addOutputOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Defanged spellings are read back (hxxp, [.], (.), [dot], [:], [@] and others); times, version
numbers, SSH key fingerprints, CIDR networks, file names and 34-hex strings are not indicators.
Output: --format table (type and value), csv (type,value), json (one document: counts and a list
per kind).

With --enrich, IPs, domains and MD5/SHA-1/SHA-256 hashes go through \`soar-edr reputation\`
(private and reserved addresses and internal names are never sent out); the table and CSV gain
verdict and reason columns, the JSON a "reputation" list.

Exit codes (like grep: 0 means found; when several apply: 4, 3, 5, then 0 or 1):
  0  at least one indicator found
  1  everything was read and no indicator (of the kinds asked for) was found
  2  usage: unknown option or --type name, "-" given twice
  3  an input could not be read (missing, unreadable, damaged gzip); what was read is reported
  4  the output could not be written (--out FILE)
  5  --enrich could not look up every indicator`,
  );
  cmd.action(async (files: string[], opts: IocsOptions) => {
    const usage = usageComplaint(io, IOCS_EXIT.USAGE);
    const names = inputNames(files, Boolean(io.stdin.isTTY));
    if (!names.ok) return usage(names.error.message);
    let kinds: IocType[] = [...IOC_TYPES];
    if (opts.type !== undefined) {
      const filter = parseTypeFilter(opts.type);
      if (!filter.ok) return usage(filter.error.message);
      kinds = filter.value;
    }

    const extractor = createIocExtractor({ types: kinds, includeEmbeddedHosts: opts.urlHosts });
    const inputs = await readInputs(io, names.value, {
      read: async (readable) => {
        const read = await readText(readable, (text) => {
          extractor.write(text);
        });
        // Inputs are separate texts: the last line of one must not run into the first of the next.
        extractor.write('\n');
        return read;
      },
      whole: (read) => ({ bytes: read.bytes, gzip: read.gzip, records: 0 }),
    });
    const rows = iocRows(extractor.end(), kinds, opts.defang === true);
    let reputation: ReadonlyMap<string, ReputationRecord> | undefined;
    let enrichIncomplete = false;
    if (opts.enrich === true) {
      const lookup = await lookUpReputation(io, enrichTargets(rows));
      reputation = lookup.rows;
      enrichIncomplete = lookup.exitCode !== 0;
    }
    const written = await writeOutput(io, opts.out, renderIocs(opts.format, { inputs, rows, types: kinds, defanged: opts.defang === true, reputation }));
    if (!written.ok) {
      complain(io, written.error.message);
      return io.setExitCode(IOCS_EXIT.OUTPUT_FAILED);
    }
    if (inputs.some((i) => i.error !== null)) return io.setExitCode(IOCS_EXIT.UNREADABLE);
    if (enrichIncomplete) return io.setExitCode(IOCS_EXIT.ENRICH_INCOMPLETE);
    io.setExitCode(rows.length > 0 ? IOCS_EXIT.FOUND : IOCS_EXIT.NONE);
  });
  return cmd;
}
