import type { Failure } from '../result';
import type { LineBatch } from './line-source';

/**
 * Where generated lines go: a TCP input (tcp-sender.ts) or a stream / file (stream-sink.ts).
 * Accounting rule shared by all sinks: a line counts as sent only once the write that carried it
 * completed (handed to the kernel / file), and as failed once the sink has given up on it.
 */
export interface DeliveryCounts {
  readonly sent: number;
  readonly failed: number;
  /** successful connections after the first (0 for streams) */
  readonly reconnects: number;
  /** whether the sink can write right now (connected socket / open stream) */
  readonly connected: boolean;
}

export interface EventSink {
  /** Queue a batch. Batches are written in order; call when ready() for backpressure to hold. */
  send(batch: LineBatch): void;
  /** true when the sink takes more now: connected and not waiting for 'drain' */
  ready(): boolean;
  /** resolves once ready() holds or the sink has failed for good */
  whenReady(): Promise<void>;
  /** the sink's terminal failure (reconnects exhausted, output not writable); null while usable */
  failure(): Failure | null;
  counts(): DeliveryCounts;
  /** deliver everything queued (reconnecting if need be) or give up on it, then close */
  finish(): Promise<void>;
  /** no more reconnect attempts: what cannot be written on the current connection counts failed */
  abandon(reason: string): void;
}
