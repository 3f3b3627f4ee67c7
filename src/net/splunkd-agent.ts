/**
 * The alert action's one kept-alive connection to splunkd: the storage/passwords read and the
 * KV store requests share it, so a run makes one TCP (and TLS) handshake with splunkd and its
 * round trips queue on one socket. Both check splunkd's certificate by the same rules
 * (tls-trust.ts, alertActionTrust), so a socket one of them opened is fit for the other; a
 * request with other TLS options gets its own socket (the agent keys its pool by them).
 */
import type { Agent } from 'node:http';

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
