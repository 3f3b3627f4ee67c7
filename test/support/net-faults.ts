/**
 * Loopback servers that fail the way networks do, for the tests of what a failed request
 * costs: a port nothing listens on, and a listener that resets every connection as it is
 * accepted (before reading a byte of the request).
 */
import { createServer, Server, Socket } from 'node:net';

/** A loopback port nothing listens on: bound, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface ResetServer {
  readonly port: number;
  /** Connections accepted (and reset). */
  readonly accepted: () => number;
  close(): Promise<void>;
}

/** Accepts each connection and resets it at once (TCP RST), before reading anything. */
export async function startResetOnAccept(): Promise<ResetServer> {
  let accepted = 0;
  const server: Server = createServer((socket: Socket) => {
    accepted += 1;
    socket.resetAndDestroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    accepted: () => accepted,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
