/**
 * Files that many processes share (Splunk starts one action process per result, many at
 * once, and the CLI runs beside them): whole-file replacement by rename, appends that are
 * one write(2), the repair of a line a killed writer left half written, and an exclusive lock
 * for read-modify-write.
 */
import { closeSync, constants, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';

let tmpCounter = 0;

/**
 * Open for writing, making the folder only when it is missing: a digest writes thousands of
 * files into a few folders, and a mkdir per file was a measurable part of each row.
 */
function openCreating(file: string, flags: string | number): number {
  try {
    return openSync(file, flags, 0o640);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    mkdirSync(path.dirname(file), { recursive: true });
    return openSync(file, flags, 0o640);
  }
}

export interface WriteOptions {
  /**
   * Flush to disk before returning (fsync). Every write survives the writer being killed
   * (the page cache outlives the process); `durable` adds surviving an OS crash or power
   * loss, at a few milliseconds each. Default true; state that can be rebuilt (caches,
   * markers, snapshots, human-readable copies) passes false.
   */
  readonly durable?: boolean;
}

/** Replace a file's content atomically: readers see the old or the new file, never a mix. */
export function writeFileAtomic(file: string, data: string | Buffer, options: WriteOptions = {}): void {
  const tmp = `${file}.${process.pid}.${Date.now()}.${tmpCounter++}.tmp`;
  const fd = openCreating(tmp, 'w');
  try {
    writeAll(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    if (options.durable ?? true) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Create `file` with this content only if no file of that name exists (O_EXCL): the name is
 * claimed and written in one open instead of a look, a temporary file and a rename. Returns
 * false, writing nothing, when the name is taken. Readers may see the file while it is being
 * written; use it for files whose name nobody knows before this call returns.
 */
export function createExclusive(file: string, data: string | Buffer, options: WriteOptions = {}): boolean {
  let fd: number;
  try {
    fd = openCreating(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeAll(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    if (options.durable ?? true) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off);
}

/** The file's text, or undefined when it does not exist. */
export function readTextIfExists(file: string): string | undefined {
  // Most lookups miss (no marker yet, no report yet): a stat is far cheaper than the
  // exception a failed open throws, which a digest paid several times per row.
  if (!existsSync(file)) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Parsed JSON, undefined when missing; a corrupt file is reported, not thrown. */
export function readJsonIfExists(file: string): { value: unknown } | { corrupt: string } | undefined {
  const text = readTextIfExists(file);
  if (text === undefined) return undefined;
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (e) {
    return { corrupt: (e as Error).message };
  }
}

/**
 * Append text with one write(2) on an O_APPEND descriptor, flushed to disk. Call under
 * the file's lock when the write depends on the file's state (a header written once).
 */
export function appendDurably(file: string, text: string, options: WriteOptions = {}): void {
  const fd = openCreating(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT);
  try {
    const buf = Buffer.from(text, 'utf8');
    // One call for the whole record: a kill between calls cannot leave half of it.
    const written = writeSync(fd, buf);
    if (written < buf.length) writeAll(fd, buf.subarray(written));
    if (options.durable ?? true) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Remove a last line that has no line end, before appending under the file's lock.
 *
 * One write(2) is not all-or-nothing: Linux stops copying a write at a page boundary once
 * the writer has a fatal signal pending (SIGKILL, splunkd's maxtime), so a killed writer can
 * leave the first part of its line. Cut off, it is kept beside the file as
 * `<file>.partial-<ms>` for a person to look at, and returned; undefined when the file ends
 * with a line end (or is empty or missing). Line-per-record files only.
 */
export function trimPartialLastLine(file: string, nowMs: number = Date.now()): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r+');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return undefined;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    if (last[0] === 0x0a) return undefined;
    // Back to the last line end; records are short, so a few 64 KiB steps at most.
    const chunk = Buffer.alloc(64 * 1024);
    let cut = 0;
    for (let end = size; end > 0 && cut === 0; ) {
      const start = Math.max(0, end - chunk.length);
      const n = readSync(fd, chunk, 0, end - start, start);
      const at = chunk.subarray(0, n).lastIndexOf(0x0a);
      if (at >= 0) cut = start + at + 1;
      end = start;
    }
    const stub = Buffer.alloc(size - cut);
    readSync(fd, stub, 0, stub.length, cut);
    writeFileSync(`${file}.partial-${nowMs}`, stub, { mode: 0o640 });
    ftruncateSync(fd, cut);
    return stub.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Flush a file written without `durable` (e.g. once at the end of a batch of appends). */
export function syncFile(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}
