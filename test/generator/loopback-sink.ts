import * as net from 'node:net';

/**
 * A stand-in for Splunk's TCP input on a loopback port: it records every newline-terminated
 * line it reads (in arrival order across connections) and can misbehave on purpose.
 */
export interface SinkBehaviour {
  /** after reading this many lines on a connection, destroy it abruptly (RST/FIN, no goodbye) */
  readonly destroyAfterLines?: number;
  /** after reading this many lines on a connection, half-close it (FIN) but keep reading what still arrives */
  readonly endAfterLines?: number;
  /** how many connections misbehave (default: all) */
  readonly misbehaveTimes?: number;
  /** connections with these numbers (1-based) are never read and get destroyed after `stallMs` */
  readonly stallConnections?: readonly number[];
  readonly stallMs?: number;
}

export interface LoopbackSink {
  readonly host: string;
  readonly port: number;
  /** complete lines received so far */
  lines(): string[];
  lineCount(): number;
  /** all complete lines joined back with "\n" terminators */
  text(): string;
  /** connections accepted so far */
  connections(): number;
  /** arrival times (performance.now) of the first and latest line */
  arrivals(): { first: number; last: number };
  /** when each line arrived, in the order of lines(): performance.now and Date.now */
  arrivalTimes(): Array<{ readonly mono: number; readonly wall: number }>;
  /** resolves when `n` lines arrived and every connection has closed, or rejects after `timeoutMs` */
  waitForLines(n: number, timeoutMs: number): Promise<void>;
  /** stop listening and drop every open connection (the input "goes away") */
  stop(): Promise<void>;
  /** listen again on the same port */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startLoopbackSink(behaviour: SinkBehaviour = {}, host = '127.0.0.1'): Promise<LoopbackSink> {
  const received: string[] = [];
  const arrived: Array<{ mono: number; wall: number }> = [];
  const open = new Set<net.Socket>();
  let accepted = 0;
  let misbehaved = 0;
  let first = 0;
  let last = 0;

  const onConnection = (socket: net.Socket): void => {
    accepted++;
    const number = accepted;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    // the server allows half-open sockets (to keep reading after its own FIN); close our side when the client is done
    socket.on('end', () => socket.end());
    if (behaviour.stallConnections?.includes(number) === true) {
      socket.pause();
      setTimeout(() => socket.destroy(), behaviour.stallMs ?? 100);
      return;
    }
    const misbehaves = behaviour.misbehaveTimes === undefined || misbehaved < behaviour.misbehaveTimes;
    if (misbehaves && (behaviour.destroyAfterLines !== undefined || behaviour.endAfterLines !== undefined)) misbehaved++;
    let partial = '';
    let linesHere = 0;
    let ended = false;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const text = partial + chunk;
      const parts = text.split('\n');
      partial = parts.pop() as string;
      const now = performance.now();
      if (parts.length > 0) {
        if (first === 0) first = now;
        last = now;
      }
      const wall = Date.now();
      for (const line of parts) {
        received.push(line);
        arrived.push({ mono: now, wall });
      }
      linesHere += parts.length;
      if (!misbehaves) return;
      if (behaviour.destroyAfterLines !== undefined && linesHere >= behaviour.destroyAfterLines) {
        socket.destroy();
      } else if (!ended && behaviour.endAfterLines !== undefined && linesHere >= behaviour.endAfterLines) {
        ended = true;
        socket.end();
      }
    });
  };

  let server = net.createServer({ allowHalfOpen: true }, onConnection);
  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve((server.address() as net.AddressInfo).port));
    });
  const port = await listen(0);

  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => resolve());
    });

  return {
    host,
    port,
    lines: () => received.slice(),
    lineCount: () => received.length,
    text: () => received.map((l) => `${l}\n`).join(''),
    connections: () => accepted,
    arrivals: () => ({ first, last }),
    arrivalTimes: () => arrived.slice(),
    async waitForLines(n, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      while (received.length < n || open.size > 0) {
        if (performance.now() > deadline) {
          throw new Error(`sink got ${received.length} of ${n} lines (${open.size} connections still open) within ${timeoutMs} ms`);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    stop,
    async restart() {
      server = net.createServer({ allowHalfOpen: true }, onConnection);
      await listen(port);
    },
    close: stop,
  };
}

/** A loopback port nobody listens on: bind one, note it, close it. */
export async function unusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
