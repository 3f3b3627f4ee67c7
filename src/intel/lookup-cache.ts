/**
 * Lookup results kept on disk and shared by every alert process and the CLI: a cache hit
 * costs no quota and no network. One JSON file per (provider, address, key hash), replaced
 * atomically, so concurrent writers can only race to write the same kind of answer and a
 * reader sees a whole entry or none.
 *
 * The entry records a hash of the API key, never the key: answers may differ per account
 * (a premium key sees more), and a new key must not inherit a revoked key's answers.
 * Not-found answers are cached too, for a shorter time (NOT_FOUND_TTL_MS): VirusTotal
 * creates a record once anyone submits the address. Errors are never cached.
 */
import { createHash } from 'node:crypto';
import { readdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { readJsonIfExists, writeFileAtomic } from '../store/durable-file';
import type { AbuseReport } from './abuseipdb-report';
import { asJsonObject } from './json-fields';
import type { VtIpReport } from './virustotal-report';

export type IntelProvider = 'virustotal' | 'abuseipdb';
export const INTEL_PROVIDERS: readonly IntelProvider[] = ['virustotal', 'abuseipdb'];

export interface ProviderReports {
  readonly virustotal: VtIpReport;
  readonly abuseipdb: AbuseReport;
}

export type CachedValue<R> = { readonly state: 'report'; readonly report: R } | { readonly state: 'not_found' };

export interface CacheEntry<P extends IntelProvider = IntelProvider> {
  readonly provider: P;
  readonly address: string;
  readonly keyHash: string;
  /** Epoch ms when the answer was received. */
  readonly storedAtMs: number;
  readonly value: CachedValue<ProviderReports[P]>;
}

export interface LookupCacheOptions {
  /** How long a report stays valid; default 24 h. */
  readonly ttlMs?: number;
  /** How long a not-found answer stays valid; default 6 h. */
  readonly notFoundTtlMs?: number;
}

export const DEFAULT_TTL_MS = 24 * 60 * 60 * 1000;
export const NOT_FOUND_TTL_MS = 6 * 60 * 60 * 1000;
/** Entries stamped further in the future than this (clock stepped back) are not trusted. */
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
const FORMAT_VERSION = 1;

/** sha256 of the key, first 16 hex digits: tells keys apart without storing or revealing them. */
export function apiKeyHash(apiKey: string): string {
  return createHash('sha256').update(apiKey, 'utf8').digest('hex').slice(0, 16);
}

/**
 * A file name part for an address, safe on Linux and Windows: IPv6 ':' becomes '_'
 * (':' is forbidden on Windows); anything that is not a plain address is hashed.
 */
export function addressFilePart(address: string): string {
  if (/^[0-9a-f.:]{1,45}$/i.test(address)) return address.toLowerCase().replace(/:/g, '_');
  return `h${createHash('sha256').update(address, 'utf8').digest('hex').slice(0, 32)}`;
}

function isValue(provider: IntelProvider, value: unknown): boolean {
  const v = asJsonObject(value);
  if (v === undefined) return false;
  if (v.state === 'not_found') return true;
  if (v.state !== 'report') return false;
  const report = asJsonObject(v.report);
  if (report === undefined || report.state !== 'report') return false;
  if (provider === 'virustotal') {
    const stats = asJsonObject(report.stats);
    return stats !== undefined && typeof stats.malicious === 'number' && typeof report.engines === 'number' && typeof report.statsPresent === 'boolean';
  }
  return 'abuseConfidenceScore' in report && Array.isArray(report.hostnames);
}

export class LookupCache {
  private readonly ttlMs: number;
  private readonly notFoundTtlMs: number;

  /** `dir` is dataLayout(root).cache. */
  constructor(readonly dir: string, options: LookupCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    this.notFoundTtlMs = Math.min(options.notFoundTtlMs ?? NOT_FOUND_TTL_MS, this.ttlMs);
  }

  fileFor(provider: IntelProvider, address: string, keyHash: string): string {
    return path.join(this.dir, `${provider}-${addressFilePart(address)}-${keyHash}.json`);
  }

  /**
   * The entry when it is present, whole, for this exact provider/address/key and fresh at
   * `nowMs`; undefined otherwise (missing, expired, corrupt or foreign: a miss, replaced by
   * the next put). `address` must be canonical (parseIpAddress's text).
   */
  get<P extends IntelProvider>(provider: P, address: string, keyHash: string, nowMs: number): CacheEntry<P> | undefined {
    const read = readJsonIfExists(this.fileFor(provider, address, keyHash));
    if (read === undefined || 'corrupt' in read) return undefined;
    const e = asJsonObject(read.value);
    if (e === undefined || e.v !== FORMAT_VERSION || e.provider !== provider || e.address !== address || e.keyHash !== keyHash) return undefined;
    if (typeof e.storedAtMs !== 'number' || !Number.isFinite(e.storedAtMs) || !isValue(provider, e.value)) return undefined;
    const value = e.value as CachedValue<ProviderReports[P]>;
    const age = nowMs - e.storedAtMs;
    const ttl = value.state === 'not_found' ? this.notFoundTtlMs : this.ttlMs;
    if (age >= ttl || age < -MAX_CLOCK_SKEW_MS) return undefined;
    return { provider, address, keyHash, storedAtMs: e.storedAtMs, value };
  }

  put<P extends IntelProvider>(provider: P, address: string, keyHash: string, value: CachedValue<ProviderReports[P]>, nowMs: number): CacheEntry<P> {
    const entry: CacheEntry<P> = { provider, address, keyHash, storedAtMs: nowMs, value };
    writeFileAtomic(this.fileFor(provider, address, keyHash), JSON.stringify({ v: FORMAT_VERSION, ...entry }), { durable: false });
    return entry;
  }

  /**
   * Delete entries that can no longer be hits (older than the report TTL by file time) and
   * leftover temporary files; returns how many files were removed. For `soar-edr drain`.
   */
  prune(nowMs: number): number {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw e;
    }
    let removed = 0;
    for (const name of names) {
      if (!name.endsWith('.json') && !name.endsWith('.tmp')) continue;
      const file = path.join(this.dir, name);
      try {
        // A .tmp younger than a minute may belong to a writer that is still running.
        const limit = name.endsWith('.tmp') ? 60_000 : this.ttlMs;
        if (nowMs - statSync(file).mtimeMs > limit) {
          rmSync(file, { force: true });
          removed++;
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    return removed;
  }
}
