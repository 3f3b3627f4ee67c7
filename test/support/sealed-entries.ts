/**
 * Entries a test plants by hand in a data directory (outbox files, queue files, dead
 * letters), sealed with that directory's install key the way the app seals its own:
 * since entries are sealed, an unsealed planted file is a forgery and is never acted on.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ensureDir } from '../../src/store/durable-file';
import { installKey, seal, SealPurpose } from '../../src/store/entry-seal';

/** The data directory's install key (created on first use, as the app does). */
export function sealKey(dataDir: string): Buffer {
  const key = installKey(dataDir);
  if (!key.ok) throw new Error(key.error.message);
  return key.value;
}

/** `entry` sealed for `purpose`, as JSON text. */
export function sealedText(dataDir: string, purpose: SealPurpose, entry: object, indent?: number): string {
  return JSON.stringify(seal(sealKey(dataDir), purpose, entry), null, indent);
}

/** Write `entry`, sealed, at `file` (its folder made as needed); returns the file. */
export function writeSealed(dataDir: string, purpose: SealPurpose, file: string, entry: object): string {
  ensureDir(path.dirname(file));
  writeFileSync(file, sealedText(dataDir, purpose, entry, purpose === 'dead-letter' ? 2 : undefined));
  return file;
}

/** A dead letter as the app writes one (version 1), sealed; returns its path in dead-letters/. */
export function writeSealedDeadLetter(dataDir: string, name: string, letter: { kind: string; reason: string; payload: unknown; [k: string]: unknown }): string {
  const nowMs = Date.now();
  return writeSealed(dataDir, 'dead-letter', path.join(dataDir, 'dead-letters', name), { version: 1, createdAt: new Date(nowMs).toISOString(), createdAtMs: nowMs, ...letter });
}
