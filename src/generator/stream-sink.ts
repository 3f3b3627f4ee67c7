import type { Writable } from 'node:stream';
import type { Failure } from '../result';
import type { DeliveryCounts, EventSink } from './event-sink';
import type { LineBatch } from './line-source';

interface PendingWrite {
  readonly lines: number;
  settled: boolean;
}

export interface StreamSinkSettings {
  /** names the output in error messages, e.g. "file /tmp/x.log" or "dry-run output" */
  readonly label: string;
  /** end the stream when finished (files: yes; stdout: no) */
  readonly endWhenDone: boolean;
}

/** Writes batches to a Writable (dry run to stdout, --out FILE), honouring 'drain'. No retries: a stream error is final. */
export function createStreamSink(stream: Writable, settings: StreamSinkSettings): EventSink {
  let sent = 0;
  let failed = 0;
  let awaitingDrain = false;
  let failure: Failure | null = null;
  const pending: PendingWrite[] = [];
  let readyWaiters: Array<() => void> = [];
  let idleWaiters: Array<() => void> = [];

  const wake = (): void => {
    const waiters = readyWaiters;
    readyWaiters = [];
    for (const w of waiters) w();
  };
  const checkIdle = (): void => {
    if (pending.length > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };
  const failAll = (message: string): void => {
    if (failure === null) failure = { kind: 'output-failed', message };
    for (const p of pending) {
      if (!p.settled) {
        p.settled = true;
        failed += p.lines;
      }
    }
    pending.length = 0;
    wake();
    checkIdle();
  };

  const onError = (err: Error): void => failAll(`could not write to ${settings.label}: ${err.message}`);
  stream.on('error', onError);
  stream.on('drain', () => {
    awaitingDrain = false;
    wake();
  });

  return {
    send(batch: LineBatch) {
      if (failure !== null) {
        failed += batch.lines;
        return;
      }
      const p: PendingWrite = { lines: batch.lines, settled: false };
      pending.push(p);
      const more = stream.write(batch.text, (err) => {
        if (p.settled) return;
        p.settled = true;
        if (err) failed += p.lines;
        else sent += p.lines;
        const i = pending.indexOf(p);
        if (i >= 0) pending.splice(i, 1);
        checkIdle();
      });
      if (!more) awaitingDrain = true;
    },
    ready: () => failure === null && !awaitingDrain,
    whenReady() {
      if (failure !== null || !awaitingDrain) return Promise.resolve();
      return new Promise((resolve) => readyWaiters.push(resolve));
    },
    failure: () => failure,
    counts: (): DeliveryCounts => ({ sent, failed, reconnects: 0, connected: failure === null }),
    async finish() {
      if (pending.length > 0) await new Promise<void>((resolve) => idleWaiters.push(resolve));
      if (settings.endWhenDone && failure === null) {
        await new Promise<void>((resolve) => {
          stream.end(() => resolve());
          stream.once('error', () => resolve());
        });
      }
      stream.off('error', onError);
      // a stream that errors after we stop listening must not crash the process
      if (settings.endWhenDone) stream.on('error', () => undefined);
    },
    // nothing to reconnect: writes already handed to the stream complete or fail on their own
    abandon() {},
  };
}
