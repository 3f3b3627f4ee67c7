/**
 * Loopback stand-ins for VirusTotal v3 and AbuseIPDB v2 that replay the real corpus bodies
 * (test/fixtures/corpus/virustotal, test/fixtures/corpus/abuseipdb). Each answer kind is one row of a
 * table; tests script answers per address or for every address, and read how many
 * requests each address cost. Both check the API key header and answer 401 with the
 * provider's own body when it is wrong.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { corpusPath } from './paths';

interface Canned {
  readonly status: number;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** What the stub does for one request. */
type Behaviour = { readonly canned: Canned } | { readonly slow: true } | { readonly reset: true } | { readonly corpus: true };

export type VtAnswer = 'corpus' | 'unauthorized' | 'quota_json' | 'quota_text' | 'server_error' | 'transient' | 'deadline_exceeded' | 'slow' | 'reset';
export type AbuseAnswer = 'corpus' | 'unauthorized' | 'unprocessable' | 'quota' | 'server_error' | 'slow' | 'reset';

const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' };
const vtText = (name: string): string => readFileSync(corpusPath('virustotal', name), 'utf8');
const abuseText = (name: string): string => readFileSync(corpusPath('abuseipdb', name), 'utf8');
/** VirusTotal's error format with a code and description from its docs' error table. */
const vtError = (code: string, message: string): string => JSON.stringify({ error: { code, message } });

const HTML_429 = '<html><head><title>429 Too Many Requests</title></head><body><center><h1>429 Too Many Requests</h1></center></body></html>';

const vtUnauthorized = (): Canned => ({ status: 401, body: vtText('vt_error_AuthenticationRequiredError.docs_example.json'), headers: JSON_TYPE });

function vtAnswers(): Readonly<Record<VtAnswer, Behaviour>> {
  return {
    corpus: { corpus: true },
    unauthorized: { canned: vtUnauthorized() },
    quota_json: { canned: { status: 429, body: vtText('vt_error_QuotaExceededError.vt-go_test_429.json'), headers: JSON_TYPE } },
    // What a proxy or a mis-encoded answer gives: not VirusTotal's JSON (vt-go#35).
    quota_text: { canned: { status: 429, body: HTML_429, headers: { 'content-type': 'text/html' } } },
    server_error: { canned: { status: 500, body: 'Internal Server Error', headers: { 'content-type': 'text/plain' } } },
    transient: { canned: { status: 503, body: vtError('TransientError', 'Transient server error. Retry might work.'), headers: JSON_TYPE } },
    deadline_exceeded: { canned: { status: 504, body: vtError('DeadlineExceededError', 'The operation took too long to complete.'), headers: JSON_TYPE } },
    slow: { slow: true },
    reset: { reset: true },
  };
}

const ABUSE_429_HEADERS = {
  ...JSON_TYPE,
  'retry-after': '29241',
  'x-ratelimit-limit': '1000',
  'x-ratelimit-remaining': '0',
  'x-ratelimit-reset': '1545973200',
};

const abuseUnauthorized = (): Canned => ({ status: 401, body: abuseText('abuseipdb_401_logged_by_centminmod.json'), headers: JSON_TYPE });
const abuseUnprocessable = (): Canned => ({ status: 422, body: abuseText('abuseipdb_docs_error_422.json'), headers: JSON_TYPE });

function abuseAnswers(): Readonly<Record<AbuseAnswer, Behaviour>> {
  return {
    corpus: { corpus: true },
    unauthorized: { canned: abuseUnauthorized() },
    unprocessable: { canned: abuseUnprocessable() },
    quota: { canned: { status: 429, body: abuseText('abuseipdb_docs_rate_limit_429.json'), headers: ABUSE_429_HEADERS } },
    server_error: { canned: { status: 500, body: '<html><head><title>500 Server Error</title></head><body>Server Error</body></html>', headers: { 'content-type': 'text/html' } } },
    slow: { slow: true },
    reset: { reset: true },
  };
}

export interface StubRequest {
  readonly path: string;
  /** The address asked about ('' when the request named none). */
  readonly ip: string;
  readonly headers: IncomingMessage['headers'];
  /** When it arrived (epoch ms): quota tests count requests per window. */
  readonly atMs: number;
}

export interface IntelStub<A extends string> {
  /** API base URL for SOAR_VIRUSTOTAL_URL / SOAR_ABUSEIPDB_URL. */
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly requests: StubRequest[];
  /** How long a 'slow' answer waits before replying (default 2,000 ms). */
  slowMs: number;
  /** Queue answers for one address, or '*' for any address without its own queue; each request takes one, then 'corpus'. */
  script(target: string, ...answers: A[]): void;
  requestsFor(ip: string): number;
  close(): Promise<void>;
}

interface StubSpec {
  readonly prefix: string;
  readonly keyHeader: string;
  readonly unauthorized: Canned;
  /** The address a request names, or undefined for a path the provider does not serve. */
  ipOf(url: URL): string | undefined;
  /** The real answer for an address (and a validation answer, e.g. AbuseIPDB's 422). */
  corpus(ip: string, url: URL): Canned;
}

function send(res: ServerResponse, answer: Canned): void {
  res.writeHead(answer.status, { 'content-length': Buffer.byteLength(answer.body), ...answer.headers });
  res.end(answer.body);
}

async function startStub<A extends string>(spec: StubSpec, answers: Readonly<Record<A, Behaviour>>, apiKey: string): Promise<IntelStub<A>> {
  const queues = new Map<string, A[]>();
  const requests: StubRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const ip = spec.ipOf(url);
    requests.push({ path: url.pathname, ip: ip ?? '', headers: req.headers, atMs: Date.now() });
    if (ip === undefined) return send(res, { status: 404, body: 'Not Found', headers: { 'content-type': 'text/plain' } });
    if (req.headers[spec.keyHeader] !== apiKey) return send(res, spec.unauthorized);
    const queue = queues.get(ip)?.length ? queues.get(ip) : queues.get('*');
    const behaviour = answers[queue?.shift() ?? ('corpus' as A)];
    if ('reset' in behaviour) return req.socket.destroy();
    if ('canned' in behaviour) return send(res, behaviour.canned);
    const answer = spec.corpus(ip, url);
    if (!('slow' in behaviour)) return send(res, answer);
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!res.destroyed) send(res, answer);
    }, stub.slowMs);
    timers.add(timer);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}${spec.prefix}`;
  const stub: IntelStub<A> = {
    baseUrl,
    apiKey,
    requests,
    slowMs: 2_000,
    script(target, ...more) {
      queues.set(target, [...(queues.get(target) ?? []), ...more]);
    },
    requestsFor: (ip) => requests.filter((r) => r.ip === ip).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return stub;
}

/** The address the OpenCTI capture is about. */
export const VT_OPENCTI_IP = '138.128.150.133';

/**
 * VirusTotal at http://127.0.0.1:<port>/api/v3: /ip_addresses/<ip> answers the OpenCTI
 * capture for 138.128.150.133, the demisto sample (wrapped in {"data": …}) for
 * `demistoIp`, and the docs' NotFoundError for any other address. /domains/<name> and
 * /files/<hash> answer the bodies in `objects` (keyed "domains/<name>", "files/<hash>")
 * and the NotFoundError otherwise; their requests are counted under the name or hash.
 */
export function startVirusTotalStub(options: { apiKey?: string; demistoIp?: string; objects?: Readonly<Record<string, string>> } = {}): Promise<IntelStub<VtAnswer>> {
  const demistoIp = options.demistoIp ?? '185.220.101.33';
  const bodies = new Map<string, string>([
    [VT_OPENCTI_IP, vtText('opencti_vt_test_ipv4.json')],
    [demistoIp, JSON.stringify({ data: JSON.parse(vtText('demisto_VirusTotalV3_test_data_ip_results.json')) as unknown })],
  ]);
  const notFound: Canned = { status: 404, body: vtText('vt_error_NotFoundError.docs_example.json'), headers: JSON_TYPE };
  const objects = new Map<string, string>(Object.entries(options.objects ?? {}));
  return startStub<VtAnswer>(
    {
      prefix: '/api/v3',
      keyHeader: 'x-apikey',
      unauthorized: vtUnauthorized(),
      ipOf: (url) => {
        const m = /^\/api\/v3\/(?:ip_addresses|domains|files)\/([^/]+)$/.exec(url.pathname);
        return m ? decodeURIComponent(m[1]) : undefined;
      },
      corpus: (ip, url) => {
        const collection = /^\/api\/v3\/(ip_addresses|domains|files)\//.exec(url.pathname)?.[1];
        const body = collection === 'ip_addresses' ? bodies.get(ip) : objects.get(`${collection}/${ip}`);
        return body === undefined ? notFound : { status: 200, body, headers: JSON_TYPE };
      },
    },
    vtAnswers(),
    options.apiKey ?? 'vt-stub-key-0123456789abcdef',
  );
}

/** The address of AbuseIPDB's documented /check example. */
export const ABUSE_DOCS_IP = '118.25.6.39';

/**
 * AbuseIPDB at http://127.0.0.1:<port>/api/v2: /check?ipAddress=… answers the recorded real
 * response for the address (realworld_check_responses_ioc_cache.json) or the docs example
 * for 118.25.6.39; a maxAgeInDays outside 1–365 gets the docs' 422. An address with no
 * recorded answer gets a 404 naming it, so a test cannot mistake it for a real report.
 */
export function startAbuseIpdbStub(options: { apiKey?: string } = {}): Promise<IntelStub<AbuseAnswer>> {
  const recorded = JSON.parse(abuseText('realworld_check_responses_ioc_cache.json')) as Record<string, unknown>;
  const bodies = new Map<string, string>(Object.entries(recorded).map(([ip, body]) => [ip, JSON.stringify(body)]));
  bodies.set(ABUSE_DOCS_IP, abuseText('abuseipdb_docs_check_example_response.json'));
  const unprocessable = abuseUnprocessable();
  return startStub<AbuseAnswer>(
    {
      prefix: '/api/v2',
      keyHeader: 'key',
      unauthorized: abuseUnauthorized(),
      ipOf: (url) => (url.pathname === '/api/v2/check' ? url.searchParams.get('ipAddress') ?? '' : undefined),
      corpus: (ip, url) => {
        const age = url.searchParams.get('maxAgeInDays');
        if (age !== null && !(/^\d+$/.test(age) && Number(age) >= 1 && Number(age) <= 365)) return unprocessable;
        const body = bodies.get(ip);
        if (body === undefined) {
          return { status: 404, body: JSON.stringify({ errors: [{ detail: `stub has no recorded /check answer for ${ip}`, status: 404 }] }), headers: JSON_TYPE };
        }
        return { status: 200, body, headers: JSON_TYPE };
      },
    },
    abuseAnswers(),
    options.apiKey ?? 'abuse-stub-key-0123456789abcdef0123456789abcdef',
  );
}
