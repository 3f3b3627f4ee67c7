import { Writable } from 'node:stream';

/**
 * A reader slower than its writer, as a pipe into a busy process is: takes 64 KiB at a time,
 * `delayMs` per chunk, and counts what it has taken (`received` bytes).
 */
export function slowReader(delayMs: number): Writable & { received: number } {
  const w = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _enc, done) {
      w.received += chunk.length;
      setTimeout(done, delayMs);
    },
  }) as Writable & { received: number };
  w.received = 0;
  return w;
}
