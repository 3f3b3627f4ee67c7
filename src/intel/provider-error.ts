/**
 * What a failed provider call means for the pipeline, independent of the provider:
 * whether to try again later, and a message an operator can act on.
 */

/**
 * auth: the key is missing, wrong, revoked or not allowed — retrying cannot help.
 * not_found: the provider has no record (VirusTotal 404).
 * quota: a rate or daily limit was hit — retry after it resets, not now.
 * transient: the provider failed; an immediate or short-delay retry may work.
 * bad_request: we sent something the provider rejects — a bug or a bad parameter.
 * unknown: a status or body we do not recognise.
 */
export type ProviderErrorKind = 'auth' | 'not_found' | 'quota' | 'transient' | 'bad_request' | 'unknown';

export interface ProviderError {
  readonly kind: ProviderErrorKind;
  /** The HTTP status received. */
  readonly status: number;
  /** The provider's own error code, when the body carried one (VirusTotal `error.code`). */
  readonly code?: string;
  /** One line: provider, status, code, the provider's words, and what to do. */
  readonly message: string;
  /** true: the same request may succeed later (for `quota`, only after the limit resets). */
  readonly retryable: boolean;
}

/** Cap on how much of an error body is examined; error bodies are small, HTML pages are not. */
const MAX_BODY_CHARS = 4096;
const MAX_DETAIL_CHARS = 200;

/**
 * Collapse whitespace and control characters (C0, DEL, C1, Unicode line separators), and
 * cut to a length fit for one log line: provider text ends up in logs and reports.
 */
export function oneLine(text: string, max = MAX_DETAIL_CHARS): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\s\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** JSON.parse that reports failure as undefined instead of throwing. */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A readable summary of a body that is not the provider's JSON error format: a plain
 * text message as is, an HTML page by its <title> (or its text without tags).
 */
export function describeNonJsonBody(bodyText: string): string {
  const head = bodyText.slice(0, MAX_BODY_CHARS);
  if (head.trim() === '') return 'empty body';
  if (/<[a-z!/]/i.test(head)) {
    const title = /<title[^>]*>([^<]*)<\/title>/i.exec(head);
    const text = title && title[1].trim() !== '' ? title[1] : head.replace(/<[^<>]*>/g, ' ');
    const flat = oneLine(decodeBasicEntities(text));
    return flat === '' ? 'HTML page without text' : flat;
  }
  return oneLine(head);
}

function decodeBasicEntities(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

export type HttpHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** Case-insensitive header lookup over a plain object (Node's IncomingHttpHeaders or similar). */
export function headerValue(headers: HttpHeaders, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() !== wanted) continue;
    const value = headers[key];
    if (value === undefined) return undefined;
    return typeof value === 'string' ? value : value[0];
  }
  return undefined;
}
