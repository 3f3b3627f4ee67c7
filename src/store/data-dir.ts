/**
 * Where the app keeps its files (DESIGN.md §3): $SOAR_DATA_DIR, else inside Splunk
 * $SPLUNK_HOME/var/lib/soar_edr, else $XDG_DATA_HOME/soar-edr or ~/.local/share/soar-edr.
 */
import * as path from 'node:path';

export function resolveDataDir(env: Readonly<Record<string, string | undefined>>, homeDir: string): string {
  if (env.SOAR_DATA_DIR?.trim()) return path.resolve(env.SOAR_DATA_DIR.trim());
  if (env.SPLUNK_HOME?.trim()) return path.join(path.resolve(env.SPLUNK_HOME.trim()), 'var', 'lib', 'soar_edr');
  if (env.XDG_DATA_HOME?.trim()) return path.join(path.resolve(env.XDG_DATA_HOME.trim()), 'soar-edr');
  return path.join(homeDir, '.local', 'share', 'soar-edr');
}

/** The files and folders inside the data directory; binding names are DESIGN.md §4's. */
export function dataLayout(root: string) {
  return {
    root,
    incidents: path.join(root, 'incidents.csv'),
    reports: path.join(root, 'reports'),
    blocklist: path.join(root, 'blocklist.csv'),
    cache: path.join(root, 'cache'),
    quota: path.join(root, 'quota'),
    queue: path.join(root, 'queue'),
    outbox: path.join(root, 'outbox'),
    deadLetters: path.join(root, 'dead-letters'),
    /** Rows of a digest a run had no time left for, with their payload context, for a later run or `soar-edr drain`. */
    spool: path.join(root, 'spool'),
    ledger: path.join(root, 'ledger'),
    locks: path.join(root, 'locks'),
  } as const;
}

export type DataLayout = ReturnType<typeof dataLayout>;
