/**
 * The shell around the analysis commands (authlog, winlog, iocs): opening the files named on
 * the command line (or stdin for "-"), a progress line on a terminal, and reading held back
 * while a streamed output (--attempts, see output-format) catches up with a slow reader, so
 * memory stays flat whatever the input size.
 */
import { closeSync, createReadStream, fstatSync, openSync } from 'node:fs';
import { Readable, Transform, TransformCallback, pipeline } from 'node:stream';
import { fail, ok, Result } from '../result';
import type { InputReport } from './failure-summary';
import { groupedCount } from './output-format';
import type { CliIO } from './runtime';
import { complain, systemReason } from './runtime';

/** One input as opened: its name as given ("-" for stdin), its stream, and its size when known. */
export interface OpenedInput {
  readonly name: string;
  readonly stream: Readable;
  readonly size: number | null;
}

/** Read in 256 KiB pieces: few system calls on multi-gigabyte logs, little held in buffers (log-stream decodes in 16 KiB). */
const READ_CHUNK = 1 << 18;

/**
 * Opens a file for reading now, so a missing or unreadable file is reported before anything
 * is read, with the system's reason.
 */
export function openInput(io: CliIO, name: string): Result<OpenedInput, 'unreadable'> {
  if (name === '-') return ok({ name, stream: io.stdin, size: null });
  let fd: number;
  try {
    fd = openSync(name, 'r');
  } catch (e) {
    return fail('unreadable', `cannot read ${name}: ${systemReason(e)}`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) {
      closeSync(fd);
      return fail('unreadable', `cannot read ${name}: it is a directory`);
    }
    return ok({ name, stream: createReadStream('', { fd, highWaterMark: READ_CHUNK }), size: st.isFile() ? st.size : null });
  } catch (e) {
    closeSync(fd);
    return fail('unreadable', `cannot read ${name}: ${systemReason(e)}`);
  }
}

/** The inputs to read: FILE arguments, or stdin when none is given. "-" may appear once. */
export function inputNames(files: readonly string[], stdinIsTty: boolean): Result<string[], 'usage'> {
  if (files.length === 0) {
    if (stdinIsTty) return fail('usage', 'name a FILE to read, or "-" for standard input');
    return ok(['-']);
  }
  if (files.filter((f) => f === '-').length > 1) return fail('usage', '"-" (standard input) can be read only once');
  return ok([...files]);
}

/**
 * Says a command-line mistake on stderr and sets the command's usage exit code; returns
 * nothing, so an action can end with `return usage(message)`.
 */
export function usageComplaint(io: CliIO, exitCode: number): (message: string) => void {
  return (message) => {
    complain(io, message);
    io.setExitCode(exitCode);
  };
}

/**
 * Passes the input through unchanged, counting bytes and holding each chunk back while the
 * output asks to wait: a slow reader of --attempts output then slows the reading down.
 */
class InputGate extends Transform {
  bytes = 0;
  constructor(private readonly waitForOutput: () => Promise<void> | null) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    const wait = this.waitForOutput();
    if (wait === null) done(null, chunk);
    else wait.then(() => done(null, chunk), (err: Error) => done(err));
  }
}

export interface GatedInput {
  readonly readable: Readable;
  /** Bytes read so far (compressed bytes for gzip). */
  bytes(): number;
}

export function gatedInput(input: Readable, waitForOutput: () => Promise<void> | null = () => null): GatedInput {
  const gate = new InputGate(waitForOutput);
  // A read error of the file reaches the gate (pipeline destroys it with the error), and from
  // there the analysis core's own read, which reports it.
  pipeline(input, gate, () => undefined);
  return { readable: gate, bytes: () => gate.bytes };
}

export interface ProgressLine {
  stop(): void;
}

const PROGRESS_DELAY_MS = 1_000;
const PROGRESS_EVERY_MS = 250;

/**
 * A progress line on stderr while a long read runs: only on a terminal, and only after the
 * first second, so small inputs and pipes never see one.
 */
export function startProgress(io: CliIO, describe: () => string): ProgressLine {
  if (!io.stderr.isTTY) return { stop: () => undefined };
  let shown = false;
  let interval: NodeJS.Timeout | null = null;
  const draw = (): void => {
    shown = true;
    io.stderr.write(`\r${describe()}\x1b[K`);
  };
  const delay = setTimeout(() => {
    draw();
    interval = setInterval(draw, PROGRESS_EVERY_MS);
    interval.unref();
  }, PROGRESS_DELAY_MS);
  delay.unref();
  return {
    stop(): void {
      clearTimeout(delay);
      if (interval !== null) clearInterval(interval);
      if (shown) io.stderr.write('\r\x1b[K');
    },
  };
}

/** "12.3 MB of 1.0 GB (1%)": how far a read is. */
export function progressText(bytes: number, size: number | null): string {
  const mb = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : `${(n / 1e6).toFixed(1)} MB`);
  if (size === null || size === 0) return mb(bytes);
  return `${mb(bytes)} of ${mb(size)} (${Math.min(100, Math.floor((bytes / size) * 100))}%)`;
}

/** Records read so far from the input being read, counted by its reader. */
export interface RecordTally {
  records: number;
}

/** What an analysis command does with each input it opened. */
export interface InputReader<S> {
  /** What the progress line counts after the bytes ("lines"); nothing is counted when absent. */
  readonly recordName?: string;
  /**
   * Reads one input to its end. `tally` is what the progress line shows and, when the read
   * stops midway, what the report says was read.
   */
  read(readable: Readable, tally: RecordTally): Promise<Result<S>>;
  /** The report of a whole read; called after the progress line is gone, so it may complain. */
  whole(stats: S, name: string): Pick<InputReport, 'bytes' | 'gzip' | 'records'>;
}

/**
 * Reads the named inputs one after the other. One that cannot be opened or read is said on
 * stderr and reported with its error, and the next is read: the report covers what was read.
 * `waitForOutput` holds the reading back while a streamed output (--attempts) catches up.
 */
export async function readInputs<S>(
  io: CliIO,
  names: readonly string[],
  reader: InputReader<S>,
  waitForOutput?: () => Promise<void> | null,
): Promise<InputReport[]> {
  const inputs: InputReport[] = [];
  for (const name of names) {
    const opened = openInput(io, name);
    if (!opened.ok) {
      complain(io, opened.error.message);
      inputs.push({ name, bytes: 0, gzip: false, records: 0, error: opened.error.message });
      continue;
    }
    const gated = gatedInput(opened.value.stream, waitForOutput);
    const tally: RecordTally = { records: 0 };
    const label = name === '-' ? 'stdin' : name;
    const counted = reader.recordName === undefined ? (): string => '' : (): string => `, ${groupedCount(tally.records)} ${reader.recordName}`;
    const progress = startProgress(io, () => `${label}: ${progressText(gated.bytes(), opened.value.size)}${counted()}`);
    const read = await reader.read(gated.readable, tally);
    progress.stop();
    // A file is closed on the thread pool after its last read (or here, when its reader
    // stopped early). Waiting for that keeps one descriptor open at a time, and lets go of
    // what the read's callbacks reach (the whole analysis, through the line handler) before
    // the report is built and rendered.
    if (name !== '-') await closeInput(opened.value.stream);
    if (read.ok) {
      const whole = reader.whole(read.value, name);
      inputs.push({ name, bytes: whole.bytes, gzip: whole.gzip, records: whole.records, error: null });
    } else {
      complain(io, `${name}: ${read.error.message}`);
      inputs.push({ name, bytes: gated.bytes(), gzip: false, records: tally.records, error: read.error.message });
    }
  }
  return inputs;
}

/**
 * Closes a file input the reader is done with, and resolves once it is closed, in a turn of
 * the event loop of its own: code awaiting this then runs outside the stream's callbacks,
 * whose frames still reach all its listeners do.
 */
function closeInput(stream: Readable): Promise<void> {
  return new Promise((resolve) => {
    const later = (): void => {
      setImmediate(resolve);
    };
    if (stream.closed) {
      later();
      return;
    }
    stream.once('close', later);
    // Nothing when the read ended or failed (the stream is destroyed already); closes the
    // file when the reader returned before the end of it.
    stream.destroy();
  });
}
