/**
 * Dead letters on disk: one JSON file each in `dead-letters/`, sealed with the install key
 * (purpose `dead-letter`) so `soar-edr replay` can tell the files this install wrote from
 * files someone placed there. Shared by the outbox, the enrichment queue and the alert
 * action; the reading side (replay) lives in respond/outbox.ts.
 */
import * as path from 'node:path';
import { writeFileAtomic } from './durable-file';
import { installKey, seal, SealPurpose } from './entry-seal';

export interface DeadLetter {
  readonly version: 1;
  /** What the payload is: `notification` (from the outbox), `payload` (an alert's stdin), `forged`, … */
  readonly kind: string;
  readonly reason: string;
  readonly createdAt: string;
  readonly createdAtMs: number;
  readonly payload: unknown;
  /** For a notification: which one, and how often it was tried. */
  readonly notification?: { readonly incidentId: string; readonly kind: string; readonly attempts: number };
  /**
   * For kind `forged`: where the entry was found and why it failed its seal (`unsealed`: no
   * MAC at all, e.g. written before entries were sealed; `bad_mac`: changed or forged).
   */
  readonly forged?: { readonly source: SealPurpose; readonly problem: 'unsealed' | 'bad_mac'; readonly file: string };
}

/** The install key could not be read: thrown from deep inside a storage operation, reported by guardStorage. */
export class SealKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealKeyError';
  }
}

/** The data directory's install key; throws SealKeyError when it cannot be used. */
export function requireInstallKey(dataDir: string): Buffer {
  const key = installKey(dataDir);
  if (!key.ok) throw new SealKeyError(key.error.message);
  return key.value;
}

let counter = 0;

/** Write a sealed dead letter into `<dataDir>/dead-letters/`; returns the file. */
export function writeSealedDeadLetter(dataDir: string, letter: Omit<DeadLetter, 'version' | 'createdAt' | 'createdAtMs'>, nowMs: number): string {
  const createdAt = new Date(nowMs).toISOString();
  const full: DeadLetter = { version: 1, kind: letter.kind, reason: letter.reason, createdAt, createdAtMs: nowMs, payload: letter.payload, ...(letter.notification !== undefined ? { notification: letter.notification } : {}), ...(letter.forged !== undefined ? { forged: letter.forged } : {}) };
  // Sortable by time; pid + counter keep concurrent writers apart.
  const name = `${createdAt.replace(/[-:]/g, '').replace('.', '')}-${letter.kind}-${process.pid}-${counter++}.json`;
  const file = path.join(dataDir, 'dead-letters', name);
  writeFileAtomic(file, JSON.stringify(seal(requireInstallKey(dataDir), 'dead-letter', full), null, 2));
  return file;
}
