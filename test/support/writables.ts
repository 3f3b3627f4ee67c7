/** Stand-ins for stdout and stderr in CLI tests: one that keeps what is written, one that reads slowly. */
import { Writable } from 'node:stream';

/** Keeps every write (`chunks`, and `text` joined); `isTTY` and `columns` as a terminal has them. */
export class CapturedOutput extends Writable {
  readonly chunks: string[] = [];
  columns = 160;
  constructor(readonly isTTY = false) {
    super();
  }
  get text(): string {
    return this.chunks.join('');
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.chunks.push(chunk.toString('utf8'));
    done();
  }
}

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
