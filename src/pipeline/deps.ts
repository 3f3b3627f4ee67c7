/**
 * The outside world the pipeline works with — the data directory, the environment, the
 * providers' fetch, the webhook POST, the clock, timers, randomness, the host's limits, and
 * where the shared state lives — passed in by the entry points; tests pass loopback stubs and
 * a temp directory.
 */
import type { FetchFn } from '../intel/http-request';
import type { FetchFunction } from '../respond/discord-delivery';
import { nodeWebhookPost } from '../respond/webhook-post';
import type { RunContext } from '../splunk/alert-run';
import { AppConfRead, appDirFor, HostLimitsRead, readAppConf, StateStoreSetting } from '../splunk/app-conf';
import { alertActionTrust } from '../splunk/secrets';
import type { DataLayout } from '../store/data-dir';
import { kvStoreClient } from '../store/kvstore-client';
import { sharedSplunkdAgent, sharedSplunkdTls } from '../net/splunkd-agent';
import { fallbackState } from '../state/fallback-state';
import { fileState, FileStateOptions } from '../state/file-state';
import { kvState } from '../state/kv-state';
import type { SharedState } from '../state/shared-state';

export interface PipelineDeps {
  readonly layout: DataLayout;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reputation providers' GETs. */
  readonly fetch: FetchFn;
  /** The Discord webhook POST. */
  readonly webhookPost: FetchFunction;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  /** The host's limits (soar_edr.conf), read on first call; absent: the shipped defaults. */
  readonly hostLimits?: () => HostLimitsRead;
  /**
   * Where the run's shared state lives (src/state/): the KV store for the alert action inside
   * Splunk and for the CLI with --host; absent: this host's data directory (fileState).
   */
  readonly stateFor?: (context: RunContext, options: FileStateOptions) => SharedState;
}

/**
 * The real world: Node's fetch for the providers, node:https for the webhook (see
 * respond/webhook-post.ts), the clock, timers and Math.random (the entry points' choice), and
 * the app's soar_edr.conf in `appDir` (default: $SPLUNK_HOME/etc/apps/soar_edr, none outside
 * Splunk), read at most once (`appConf`).
 */
export function systemPipelineDeps(
  layout: DataLayout,
  env: Readonly<Record<string, string | undefined>>,
  appDir: string | undefined = appDirFor(env),
  appConf: () => AppConfRead = memoAppConf(appDir, layout.root),
): PipelineDeps {
  return {
    hostLimits: () => appConf().hostLimits,
    layout,
    env,
    fetch: globalThis.fetch,
    webhookPost: nodeWebhookPost,
    now: Date.now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: Math.random,
  };
}

/** soar_edr.conf read on first use, then the same answer: one read per run for limits and [state] alike. */
export function memoAppConf(appDir: string | undefined, dataDir: string): () => AppConfRead {
  let conf: AppConfRead | undefined;
  return () => (conf ??= readAppConf(appDir, dataDir));
}

/** How long one KV store request may take: a run's time budget is a minute, splunkd's maxtime five. */
const KV_TIMEOUT_MS = 10_000;

/**
 * The alert action's state ([state] store in soar_edr.conf, README/soar_edr.conf.spec): the KV
 * store at the alert's server_uri with its session key (splunkd's certificate checked as for
 * storage/passwords), the data directory's files when the setting says so or the alert carries
 * no splunkd address; `auto` falls back to the files, with one WARN, when that splunkd cannot
 * be reached or refuses.
 */
export function alertStateFor(layout: DataLayout, env: Readonly<Record<string, string | undefined>>, appConf: () => AppConfRead): (context: RunContext, options: FileStateOptions) => SharedState {
  return (context, options) => {
    const conf = appConf();
    for (const p of conf.stateProblems) context.log.error('Invalid app configuration', { reason: p.kind, message: p.message });
    return chooseState(conf.stateStore, context, layout, env, options);
  };
}

export function chooseState(store: StateStoreSetting, context: RunContext, layout: DataLayout, env: Readonly<Record<string, string | undefined>>, options: FileStateOptions): SharedState {
  const { serverUri, sessionKey } = context.payload;
  if (store === 'file' || !serverUri || !sessionKey) return fileState(layout, options);
  const trust = alertActionTrust(env);
  const host = (() => {
    try {
      return new URL(serverUri).hostname;
    } catch {
      return '';
    }
  })();
  // The same connection and TLS options as the run's storage/passwords read (net/splunkd-agent.ts).
  const client = kvStoreClient({
    baseUrl: serverUri,
    sessionKey,
    trust,
    timeoutMs: KV_TIMEOUT_MS,
    agent: sharedSplunkdAgent(serverUri.startsWith('http:') ? 'http' : 'https'),
    tls: () => sharedSplunkdTls(host, trust),
  });
  const kv = kvState(client, layout, {
    ...(options.cacheTtlMs === undefined ? {} : { cacheTtlMs: options.cacheTtlMs }),
    ...(options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }),
  });
  if (store === 'kvstore') return kv;
  return fallbackState(
    kv,
    () => fileState(layout, options),
    (kind, message) =>
      context.log.warn('KV store not usable; this run keeps its state in the data directory', {
        reason: kind,
        message: `${message}. On a search head cluster the members' state then differs until the KV store is back; set [state] store = kvstore in local/soar_edr.conf to spool instead`,
      }),
  );
}
