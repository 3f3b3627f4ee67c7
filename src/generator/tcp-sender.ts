import type { Socket } from 'node:net';
import type { Failure } from '../result';
import type { DeliveryCounts, EventSink } from './event-sink';
import type { LineBatch } from './line-source';

/**
 * Newline-framed events over one persistent TCP connection (Splunk's [tcp://1514] input).
 *
 * Delivery semantics:
 * - SENT: a batch's write callback reported success (written to a connected socket and flushed
 *   to the kernel) and the connection was still open one event-loop turn later. The extra turn
 *   lets a FIN or RST from a peer that closed just before our write be read first, so such a
 *   write is retried instead of counted.
 * - UNACKNOWLEDGED: written on a connection that closed (or saw the peer's FIN) before the
 *   batch was confirmed. It goes back to the front of the queue, in order, and is written again
 *   after reconnecting — at most `maxWritesPerBatch` times in all, then its lines count FAILED.
 * - reconnects back off exponentially (initialDelayMs doubling up to maxDelayMs); after
 *   `maxAttempts` connection attempts in a row fail, the sender gives up: everything queued
 *   counts FAILED and failure() says why.
 * Every line handed to send() is counted once, as sent or as failed.
 *
 * Limits of raw TCP (no application acknowledgements): bytes the peer's kernel accepted but
 * its process never read before dropping the connection cannot be seen by any sender; and a
 * peer that half-closes yet keeps reading may receive a retried batch twice (Splunk closes
 * both ways). Node hides the RST that would tell these cases apart (shutdown's ENOTCONN).
 */
export interface ReconnectPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** consecutive failed connection attempts before giving up */
  readonly maxAttempts: number;
  /** how long one connection attempt may take (also: how long to wait for the close after the peer's FIN) */
  readonly connectTimeoutMs: number;
}

export const DEFAULT_RECONNECT_POLICY: ReconnectPolicy = {
  initialDelayMs: 100,
  maxDelayMs: 5_000,
  maxAttempts: 10,
  connectTimeoutMs: 5_000,
};

export const DEFAULT_MAX_WRITES_PER_BATCH = 3;

export interface TcpSenderSettings {
  readonly host: string;
  readonly port: number;
  readonly reconnect: ReconnectPolicy;
  /** connections a batch may be written on before its lines count failed */
  readonly maxWritesPerBatch: number;
}

export interface TcpSenderDeps {
  /** opens a TCP connection (net.createConnection in production) */
  connect(host: string, port: number): Socket;
}

interface Connection {
  readonly socket: Socket;
  /** connected and not yet seen closing */
  open: boolean;
  /** the 'connect' event happened */
  established: boolean;
}

interface Batch {
  readonly text: string;
  readonly lines: number;
  writes: number;
  /** the connection the batch's latest write went to */
  conn: Connection | null;
  settled: boolean;
}

/** `host:port`, with brackets for IPv6 literals */
export function describeTarget(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function createTcpSender(settings: TcpSenderSettings, deps: TcpSenderDeps): EventSink {
  const policy = settings.reconnect;
  const target = describeTarget(settings.host, settings.port);
  let sent = 0;
  let failed = 0;
  let connects = 0;
  let failuresInRow = 0;
  let conn: Connection | null = null;
  let awaitingDrain = false;
  let queue: Batch[] = [];
  let inflight: Batch[] = [];
  let lastError = 'no error reported';
  let failure: Failure | null = null;
  let finishing = false;
  let finished = false;
  let abandonedFor: string | null = null;
  let backoffTimer: NodeJS.Timeout | null = null;
  let readyWaiters: Array<() => void> = [];
  let finishWaiters: Array<() => void> = [];

  const isReady = (): boolean => failure === null && conn !== null && conn.open && !awaitingDrain;

  /** nothing more will happen on its own: given up, or abandoned while not connected */
  const isStopped = (): boolean => failure !== null || (abandonedFor !== null && (conn === null || !conn.open));

  function wake(): void {
    if (!isReady() && !isStopped()) return;
    const waiters = readyWaiters;
    readyWaiters = [];
    for (const w of waiters) w();
  }

  function done(): void {
    if (finished) return;
    finished = true;
    const waiters = finishWaiters;
    finishWaiters = [];
    for (const w of waiters) w();
  }

  function countFailed(batches: Batch[]): void {
    for (const b of batches) {
      if (!b.settled) {
        b.settled = true;
        failed += b.lines;
      }
    }
  }

  function giveUp(kind: string, message: string): void {
    if (failure !== null) return;
    failure = { kind, message };
    countFailed(inflight);
    countFailed(queue);
    inflight = [];
    queue = [];
    if (backoffTimer !== null) clearTimeout(backoffTimer);
    backoffTimer = null;
    if (conn !== null) conn.socket.destroy();
    conn = null;
    wake();
    settleFinish();
  }

  /**
   * Counts a flushed batch as sent one event-loop turn after its write completed, if the
   * connection is still open then. The check runs as an immediate scheduled at flush time, i.e.
   * after the next poll phase: a FIN or RST from a peer that had already closed when the bytes
   * went out is read there first, and the batch is retried instead.
   */
  function confirm(c: Connection, b: Batch): void {
    if (b.settled || b.conn !== c || !c.open) return; // the 'close' handler retries it
    b.settled = true;
    sent += b.lines;
    const i = inflight[0] === b ? 0 : inflight.indexOf(b);
    if (i >= 0) inflight.splice(i, 1);
    settleFinish();
  }

  function write(c: Connection, b: Batch): void {
    b.writes++;
    b.conn = c;
    inflight.push(b);
    const more = c.socket.write(b.text, (err) => {
      // a failed write stays in `inflight`: the 'close' that follows puts it back in the queue
      if (err || b.settled || b.conn !== c) return;
      setImmediate(confirm, c, b);
    });
    if (!more) awaitingDrain = true;
  }

  function flush(): void {
    const c = conn;
    if (c === null || !c.open) return;
    while (queue.length > 0 && !awaitingDrain) write(c, queue.shift() as Batch);
  }

  function onClose(c: Connection): void {
    if (conn !== c) return; // a connection we closed on purpose
    conn = null;
    awaitingDrain = false;
    const retry: Batch[] = [];
    for (const b of inflight) {
      if (b.settled) continue;
      b.conn = null;
      if (b.writes >= settings.maxWritesPerBatch) {
        b.settled = true;
        failed += b.lines;
      } else {
        retry.push(b);
      }
    }
    inflight = [];
    queue = retry.concat(queue);
    if (!c.established) failuresInRow++;
    if (finishing && queue.length === 0) {
      settleFinish();
      return;
    }
    if (abandonedFor !== null) {
      if (queue.length === 0) {
        wake();
        settleFinish();
        return;
      }
      giveUp('aborted', `${abandonedFor}: the connection to ${target} closed with events still queued (last error: ${lastError})`);
      return;
    }
    if (failuresInRow >= policy.maxAttempts) {
      giveUp(
        connects === 0 ? 'connect-failed' : 'connection-lost',
        connects === 0
          ? `could not connect to ${target} after ${failuresInRow} attempts (last error: ${lastError}); is the TCP input listening there?`
          : `lost the connection to ${target} and could not reconnect after ${failuresInRow} attempts (last error: ${lastError})`,
      );
      return;
    }
    const delay = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** failuresInRow);
    backoffTimer = setTimeout(open, delay);
  }

  function open(): void {
    backoffTimer = null;
    const socket = deps.connect(settings.host, settings.port);
    const c: Connection = { socket, open: false, established: false };
    conn = c;
    socket.setNoDelay(true);
    const connectTimer = setTimeout(() => {
      if (!c.established) socket.destroy(new Error(`no answer within ${policy.connectTimeoutMs} ms`));
    }, policy.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(connectTimer);
      socket.setKeepAlive(true, 10_000);
      c.open = true;
      c.established = true;
      connects++;
      failuresInRow = 0;
      flush();
      wake();
      settleFinish();
    });
    let closeTimer: NodeJS.Timeout | null = null;
    socket.on('error', (err: Error) => {
      lastError = err.message;
      c.open = false;
    });
    // the input never talks back; reading keeps us told when the peer closes (FIN / RST)
    socket.resume();
    socket.on('end', () => {
      // peer sent FIN: write nothing new (Node sends our FIN, allowHalfOpen being off); batches
      // not yet confirmed are retried on the next connection. A peer that half-closes and keeps
      // reading may then see them twice; Splunk closes both ways, so for it this is exact.
      lastError = 'the peer closed the connection';
      c.open = false;
      closeTimer = setTimeout(() => socket.destroy(), policy.connectTimeoutMs);
    });
    socket.on('drain', () => {
      if (conn !== c) return;
      awaitingDrain = false;
      flush();
      wake();
    });
    socket.on('close', () => {
      clearTimeout(connectTimer);
      if (closeTimer !== null) clearTimeout(closeTimer);
      onClose(c);
    });
  }

  function settleFinish(): void {
    if (!finishing || finished) return;
    if (failure !== null) return done();
    if (queue.length > 0 || inflight.length > 0) {
      flush();
      return;
    }
    if (backoffTimer !== null) clearTimeout(backoffTimer);
    backoffTimer = null;
    const c = conn;
    conn = null;
    if (c === null) return done();
    if (!c.established) {
      c.socket.destroy();
      return done();
    }
    // all batches flushed: send FIN after them; closing the fd then still delivers what the kernel holds
    c.socket.once('close', done);
    c.socket.end(() => {
      c.socket.destroy();
      done();
    });
  }

  open();

  return {
    send(batch: LineBatch) {
      if (batch.lines === 0) return;
      const b: Batch = { text: batch.text, lines: batch.lines, writes: 0, conn: null, settled: false };
      if (failure !== null) {
        countFailed([b]);
        return;
      }
      queue.push(b);
      flush();
    },
    ready: isReady,
    whenReady() {
      if (isReady() || isStopped()) return Promise.resolve();
      return new Promise((resolve) => readyWaiters.push(resolve));
    },
    failure: () => failure,
    counts: (): DeliveryCounts => ({
      sent,
      failed,
      reconnects: Math.max(0, connects - 1),
      connected: conn !== null && conn.open,
    }),
    finish() {
      finishing = true;
      return new Promise<void>((resolve) => {
        if (finished) return resolve();
        finishWaiters.push(resolve);
        settleFinish();
      });
    },
    abandon(reason: string) {
      if (abandonedFor !== null || failure !== null || finished) return;
      abandonedFor = reason;
      if (conn !== null && conn.open) return; // let the current connection deliver what is queued
      if (queue.length > 0 || inflight.length > 0) {
        giveUp('aborted', `${reason}: not connected to ${target}, queued events were not sent`);
        return;
      }
      if (backoffTimer !== null) clearTimeout(backoffTimer);
      backoffTimer = null;
      if (conn !== null) conn.socket.destroy();
      conn = null;
      wake();
    },
  };
}
