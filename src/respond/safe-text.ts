/**
 * Neutralisation of attacker-controlled text for each place it ends up.
 *
 * Usernames, hostnames and even the "source IP" field reach us through log lines an
 * attacker typed. Each sink has its own dangers, so each has its own function:
 *   - TXT report / log line: control, line-break and bidi characters would forge lines or
 *     reorder what the analyst reads ("Trojan Source"); they are replaced by a visible
 *     `<U+XXXX>` marker so the evidence stays readable and nothing is silently dropped.
 *   - CSV cell: the same visible replacement (so a value reads the same in the CSV and the
 *     report), a length cap with a visible marker, and OWASP's formula-injection guard applied
 *     to every piece a spreadsheet could make a cell of (see safeCsvCell).
 *   - Discord markdown: formatting characters are backslash-escaped, `@everyone`/`@here`
 *     get a zero-width space, `<` is escaped (so `<@id>`, `<#id>`, `<@&id>`, `<t:…>` never
 *     become mentions or widgets) and `://` is broken so attacker text never turns into a
 *     link, masked or plain.
 * Lengths are capped with an ellipsis that never splits a surrogate pair (or an escape).
 */

const REPLACEMENT_CHARACTER = '\uFFFD';
export const ELLIPSIS = '\u2026';

/** A high surrogate not followed by a low one, or a low surrogate not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * C0 (includes TAB, LF, CR, NUL), DEL, C1, Arabic letter mark, LRM/RLM, line/paragraph
 * separators, bidi embeddings/overrides (U+202A–202E) and isolates (U+2066–2069), BOM.
 */
const CONTROL_OR_BIDI = /[\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069\uFEFF]/g;

function visibleCodePoint(ch: string): string {
  return `<U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}>`;
}

/**
 * Invalid UTF-8 already arrives as U+FFFD after TextDecoder; a string can still carry lone
 * UTF-16 surrogates (from JSON `\ud800` escapes or string slicing), which JSON encoders,
 * Discord and CSV readers each handle differently. Replace them with U+FFFD as well.
 */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, REPLACEMENT_CHARACTER);
}

/** For the TXT report and log lines: one line, every control / bidi character made visible. */
export function safeText(text: string): string {
  return wellFormed(text).replace(CONTROL_OR_BIDI, visibleCodePoint);
}

/** A plain number (negative reputations such as -4 included), or a lone "-" placeholder, cannot be a formula. */
const PLAIN_NUMBER = /^(?:[+-]?\d+(?:\.\d+)?|-)$/;

/** Longest CSV cell we write; longer values are cut and end in CELL_CUT_MARKER. */
export const MAX_CSV_CELL_CHARS = 4096;

/** The marker ending a cut cell, with the original length: "…[cut: 31457280 chars]". */
export function cellCutMarker(originalLength: number): string {
  return `${ELLIPSIS}[cut: ${originalLength} chars]`;
}

/**
 * `text` cut to at most `maxChars` UTF-16 units, ending in a marker naming the original
 * length when cut. Never splits a surrogate pair. Only slices: a 30 MB value costs no copy
 * of itself.
 */
export function capCell(text: string, maxChars: number = MAX_CSV_CELL_CHARS): string {
  if (text.length <= maxChars) return text;
  const marker = cellCutMarker(text.length);
  if (maxChars <= marker.length) return marker.slice(0, Math.max(0, maxChars));
  let cut = maxChars - marker.length;
  const last = text.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut -= 1;
  return text.slice(0, cut) + marker;
}

/**
 * Where a spreadsheet could start a cell: the start of the value, and right after each
 * character some locale or import dialog splits on (`,` `;` `|` and TAB). There, after any
 * spaces (some importers trim them), one of = + - @ TAB CR would start a formula. A
 * lookbehind, so that a TAB is seen both as a trigger and as the start of the next piece.
 */
const FORMULA_PIECE = /(?<=^|[,;|\t])( *)(?=[=+\-@\t\r])/g;

/**
 * For one CSV cell (the CSV writer still quotes it). The rule, in this order:
 *   1. the value is cut to MAX_CSV_CELL_CHARS (marker "…[cut: N chars]" at the end);
 *   2. a `'` is inserted at the start of every piece (the value's start, and the text after
 *      each `,` `;` `|` or TAB) whose first character after spaces is = + - @ TAB or CR, so no
 *      split of the cell, in any locale, starts with a formula; a value that is a plain number
 *      (-4, +1, 3.5) or a lone "-" is left as it is;
 *   3. control, line-break and bidi characters are made visible as <U+XXXX> (one line).
 */
export function safeCsvCell(text: string): string {
  // Cut first, so the work below never touches more than the cap (a 30 MB field stays cheap).
  const input = text.length > MAX_CSV_CELL_CHARS ? text.slice(0, MAX_CSV_CELL_CHARS) : text;
  const formed = wellFormed(input);
  const guarded = PLAIN_NUMBER.test(formed) ? formed : formed.replace(FORMULA_PIECE, "'$1");
  const visible = guarded.replace(CONTROL_OR_BIDI, visibleCodePoint);
  if (text.length <= MAX_CSV_CELL_CHARS && visible.length <= MAX_CSV_CELL_CHARS) return visible;
  // Cut (again) with the marker; the cut never leaves half of a <U+XXXX>.
  const marker = cellCutMarker(text.length);
  let cut = MAX_CSV_CELL_CHARS - marker.length;
  const open = visible.lastIndexOf('<U+', cut);
  if (open >= 0 && open + 8 > cut) cut = open;
  const last = visible.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut -= 1;
  return visible.slice(0, cut) + marker;
}

/** Characters Discord markdown gives a meaning to somewhere (inline or at a line start). */
const MARKDOWN_SPECIAL = new Set(['\\', '*', '_', '~', '`', '|', '>', '#', '-', '[', ']', '(', ')', '<', '+']);
const ZERO_WIDTH_SPACE = '\u200B';
const MASS_MENTION = /^(?:everyone|here)/i;
/** "1. x" at the start of a value would render as a numbered list; "1.2.3.4" would not. */
const ORDERED_LIST_START = /^(\d+)\.(?= |$)/;

/**
 * Escape text that is already `safeText` (single line, no controls) for Discord markdown.
 * Exported separately so a caller composing markdown can escape pieces it then joins.
 */
export function escapeDiscordMarkdown(text: string): string {
  let out = '';
  const listStart = ORDERED_LIST_START.exec(text);
  let start = 0;
  if (listStart) {
    out = `${listStart[1]}\\.`;
    start = listStart[0].length;
  }
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (MARKDOWN_SPECIAL.has(ch)) {
      out += `\\${ch}`;
    } else if (ch === '@' && MASS_MENTION.test(text.slice(i + 1, i + 9))) {
      out += `@${ZERO_WIDTH_SPACE}`;
    } else if (ch === ':' && text.startsWith('//', i + 1)) {
      // "http://x" would autolink; an escaped colon renders the same but links nowhere.
      out += '\\:';
    } else {
      out += ch;
    }
  }
  return out;
}

/** Attacker text for a Discord embed: visible controls, escaped markdown, capped. */
export function discordText(text: string, maxChars: number): string {
  return capLength(escapeDiscordMarkdown(safeText(text)), maxChars);
}

/**
 * Cap `text` at `maxChars` UTF-16 code units, ending in an ellipsis when cut. The cut never
 * leaves half of a surrogate pair, nor a dangling backslash that would escape the ellipsis
 * (text from `escapeDiscordMarkdown` is a sequence of `\x` pairs and plain characters, so an
 * odd run of trailing backslashes means the last one starts a pair).
 * UTF-16 units are never fewer than code points, so the cap is safe however the receiver counts.
 */
export function capLength(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  if (maxChars <= 0) return '';
  if (maxChars <= ELLIPSIS.length) return ELLIPSIS.slice(0, maxChars);
  let cut = maxChars - ELLIPSIS.length;
  const last = text.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut -= 1;
  let backslashes = 0;
  while (backslashes < cut && text.charCodeAt(cut - 1 - backslashes) === 0x5c) backslashes += 1;
  if (backslashes % 2 === 1) cut -= 1;
  return text.slice(0, cut) + ELLIPSIS;
}
