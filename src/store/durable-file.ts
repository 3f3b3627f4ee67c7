/**
 * Files that many processes share (Splunk starts one action process per result, many at
 * once, and the CLI runs beside them): whole-file replacement by rename, appends that are
 * one write(2), the repair of a line a killed writer left half written, and an exclusive lock
 * for read-modify-write.
 */
import { chmodSync, closeSync, constants, existsSync, fstatSync, fsyncSync, ftruncateSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';

let tmpCounter = 0;

/** Modes of what the app creates in its data directory, whatever the umask: nothing for others. */
export const DATA_DIR_MODE = 0o750;
export const DATA_FILE_MODE = 0o640;

/**
 * Every open of a data file refuses a symbolic link as its last component (ELOOP): a link
 * planted as incidents.csv or as a report name must not redirect our writes (or reads) to
 * another file. Folders are checked at start-up (data-dir-safety.ts).
 */
const NOFOLLOW = constants.O_NOFOLLOW;

/**
 * Make a folder (and missing parents) with mode 0750. mkdir's mode is filtered by the umask,
 * and an umask of 000 or 002 is common for service accounts, so each folder this call
 * created is chmod-ed afterwards; folders that existed are left as they are.
 */
export function ensureDir(dir: string): void {
  const first = mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE });
  if (first === undefined) return;
  // mkdir -p made `first` and everything below it on the way to `dir`.
  for (let d = dir; ; d = path.dirname(d)) {
    chmodSync(d, DATA_DIR_MODE);
    if (d === first || path.dirname(d) === d) break;
  }
}

/**
 * Open for writing, making the folder only when it is missing: a digest writes thousands of
 * files into a few folders, and a mkdir per file was a measurable part of each row.
 */
function openCreating(file: string, flags: number): number {
  try {
    return openSync(file, flags | NOFOLLOW, DATA_FILE_MODE);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    ensureDir(path.dirname(file));
    return openSync(file, flags | NOFOLLOW, DATA_FILE_MODE);
  }
}

const WRITE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/** An error with a code, so guardStorage reports it as a storage failure naming the file. */
function notRegular(file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${file} is not a regular file`), { code: 'ENOTREG', path: file, syscall: 'open' });
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
  // A fresh name, created exclusively: never an existing file or a link someone placed there.
  const fd = openCreating(tmp, WRITE_NEW);
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
    fd = openCreating(file, WRITE_NEW);
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

/**
 * Open a data file for reading: not through a symlink, never blocking on a FIFO someone put
 * in its place, and only a regular file. undefined when it does not exist.
 */
function openRegular(file: string, flags: number): number | undefined {
  let fd: number;
  try {
    fd = openSync(file, flags | NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw notRegular(file);
  }
  return fd;
}

/** The file's text, or undefined when it does not exist. */
export function readTextIfExists(file: string): string | undefined {
  // Most lookups miss (no marker yet, no report yet): a stat is far cheaper than the
  // exception a failed open throws, which a digest paid several times per row.
  if (!existsSync(file)) return undefined;
  const fd = openRegular(file, constants.O_RDONLY);
  if (fd === undefined) return undefined;
  try {
    const chunks: Buffer[] = [];
    for (;;) {
      const chunk = Buffer.allocUnsafe(chunks.length === 0 ? 16 * 1024 : 256 * 1024);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    closeSync(fd);
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
  // O_NONBLOCK: a FIFO planted under the name fails the check below instead of blocking the open.
  const fd = openCreating(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK);
  try {
    if (!fstatSync(fd).isFile()) throw notRegular(file);
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
  const fd = openRegular(file, constants.O_RDWR);
  if (fd === undefined) return undefined;
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
    const kept = openCreating(`${file}.partial-${nowMs}`, WRITE_NEW);
    try {
      writeAll(kept, stub);
    } finally {
      closeSync(kept);
    }
    ftruncateSync(fd, cut);
    return stub.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Flush a file written without `durable` (e.g. once at the end of a batch of appends). */
export function syncFile(file: string): void {
  const fd = openRegular(file, constants.O_RDONLY);
  if (fd === undefined) return;
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Size of a data file (0 when missing); a link is not followed (its open would be refused). */
export function fileSize(file: string): number {
  try {
    return lstatSync(file).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

/** The names in a folder; none when the folder does not exist (yet). */
export function listFolder(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
