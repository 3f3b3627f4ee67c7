/** Reading what the app wrote in its data directory, for assertions. */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';

export type CsvRow = Record<string, string>;

/** The rows of incidents.csv (none when the file does not exist); a malformed file throws. */
export function incidentRows(dataDir: string): CsvRow[] {
  const file = path.join(dataDir, 'incidents.csv');
  return existsSync(file) ? (parseCsv(readFileSync(file, 'utf8'), { columns: true, relax_column_count: false }) as CsvRow[]) : [];
}
