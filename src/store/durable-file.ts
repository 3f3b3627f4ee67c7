/**
 * Files that many processes share (Splunk starts one action process per result, many at
 * once, and the CLI runs beside them): whole-file replacement by rename, appends that are
 * one write(2) so a SIGKILL leaves no half line, and an exclusive lock for read-modify-write.
 */
import { closeSync, constants, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import * as path from 'node:path';

let tmpCounter = 0;

/** Replace a file's content atomically: readers see the old or the new file, never a mix. */
export function writeFileAtomic(file: string, data: string | Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.${tmpCounter++}.tmp`;
  const fd = openSync(tmp, 'w', 0o640);
  try {
    writeAll(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
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

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off);
}

/** The file's text, or undefined when it does not exist. */
export function readTextIfExists(file: string): string | undefined {
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
export function appendDurably(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o640);
  try {
    const buf = Buffer.from(text, 'utf8');
    // One call for the whole record: a kill between calls cannot leave half of it.
    const written = writeSync(fd, buf);
    if (written < buf.length) writeAll(fd, buf.subarray(written));
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
