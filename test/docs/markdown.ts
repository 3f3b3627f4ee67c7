/**
 * Just enough Markdown reading to check the documentation: fenced code blocks, headings and
 * their GitHub anchors, and the relative links of a page (outside code, where GitHub renders
 * them as links).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

export interface CodeBlock {
  /** The info string after the opening fence ("sh", "" …). */
  readonly info: string;
  readonly lines: readonly string[];
  /** 0-based line number of the opening fence. */
  readonly startLine: number;
}

const FENCE = /^\s*```(.*)$/;

export function codeBlocks(text: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = text.split('\n');
  let open: { info: string; startLine: number; lines: string[] } | null = null;
  lines.forEach((line, i) => {
    const fence = FENCE.exec(line);
    if (open === null) {
      if (fence) open = { info: fence[1]!.trim(), startLine: i, lines: [] };
    } else if (fence && fence[1]!.trim() === '') {
      blocks.push(open);
      open = null;
    } else {
      open.lines.push(line);
    }
  });
  return blocks;
}

/** The text outside fenced blocks and inline code spans, line for line. */
export function proseOnly(text: string): string {
  const lines = text.split('\n');
  let inFence = false;
  return lines
    .map((line) => {
      if (FENCE.test(line)) {
        inFence = !inFence;
        return '';
      }
      return inFence ? '' : line.replace(/`[^`]*`/g, '');
    })
    .join('\n');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  const text = heading
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

/** Every anchor a page offers, numbered like GitHub does for repeated headings. */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of proseOrHeadings(text)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = headingAnchor(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Lines outside fenced blocks, with inline code kept (headings may hold it). */
function proseOrHeadings(text: string): string[] {
  let inFence = false;
  return text.split('\n').filter((line) => {
    if (FENCE.test(line)) {
      inFence = !inFence;
      return false;
    }
    return !inFence;
  });
}

/** The targets of the page's links and images, as written. */
export function linkTargets(text: string): string[] {
  const prose = proseOnly(text);
  const out: string[] = [];
  for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push(m[1]!);
  return out;
}

const EXTERNAL = /^[a-z][a-z0-9+.-]*:/i;

/**
 * What is wrong with each relative link of `file` (a path inside `root`; its text is read
 * from there unless given): a target outside the repository, a file that does not exist, or
 * an anchor the target page does not have.
 */
export function brokenLinks(root: string, file: string, text = readFileSync(path.join(root, file), 'utf8')): string[] {
  const problems: string[] = [];
  for (const target of linkTargets(text)) {
    if (EXTERNAL.test(target)) continue;
    const [rawPath, anchor] = target.split('#', 2) as [string, string | undefined];
    const resolved = rawPath === '' ? path.join(root, file) : path.resolve(path.dirname(path.join(root, file)), decodeURI(rawPath));
    const relative = path.relative(root, resolved);
    if (relative.startsWith('..') || path.isAbsolute(relative)) {
      problems.push(`${file}: ${target} points outside the repository`);
      continue;
    }
    if (!existsSync(resolved)) {
      problems.push(`${file}: ${target} names no file`);
      continue;
    }
    if (anchor !== undefined && anchor !== '' && resolved.endsWith('.md') && statSync(resolved).isFile()) {
      if (!anchors(readFileSync(resolved, 'utf8')).has(anchor)) problems.push(`${file}: ${target} names no heading of ${relative}`);
    }
  }
  return problems;
}
