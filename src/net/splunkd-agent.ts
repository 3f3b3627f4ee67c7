/**
 * The alert action's one kept-alive connection to splunkd: the storage/passwords read and the
 * KV store requests share it, so a run makes one TCP (and TLS) handshake with splunkd and its
 * round trips queue on one socket. Both check splunkd's certificate by the same rules
 * (tls-trust.ts, alertActionTrust), so a socket one of them opened is fit for the other; a
 * request with other TLS options gets its own socket (the agent keys its pool by them).
 */
import type { Agent } from 'node:http';
import { splunkdTlsOptions, SplunkTrust, TlsConnectOptions } from './tls-trust';

const agents = new Map<'http' | 'https', Agent>();

export function sharedSplunkdAgent(scheme: 'http' | 'https'): Agent {
  let agent = agents.get(scheme);
  if (agent === undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = (scheme === 'https' ? require('node:https') : require('node:http')) as typeof import('node:https');
    agent = new mod.Agent({ keepAlive: true, maxSockets: 1 });
    agents.set(scheme, agent);
  }
  return agent;
}

const tlsOptions = new Map<string, TlsConnectOptions>();

/**
 * The TLS options for splunkd at `host` under `trust`, built once per process (they read
 * server.conf and the CA files): the storage/passwords read and the KV store requests of a run
 * share them, as they share the connection.
 */
export function sharedSplunkdTls(host: string, trust: SplunkTrust): TlsConnectOptions {
  const key = `${host}\n${JSON.stringify(trust)}`;
  let options = tlsOptions.get(key);
  if (options === undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    options = splunkdTlsOptions(host, trust, (f) => (require('node:fs') as typeof import('node:fs')).readFileSync(f, 'utf8'));
    tlsOptions.set(key, options);
  }
  return options;
}
