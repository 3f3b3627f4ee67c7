import { fail, ok, type Result } from '../result';

/**
 * The times a backfill is placed by (`--start`, `--end`): `now`; relative to now as Splunk
 * writes it, `-4h` (units s, m, h, d; only the past); or ISO 8601 in UTC or with an offset,
 * `2026-12-06T10:00:00Z`, `2026-12-06T11:00+01:00`, `2026-12-06` (midnight UTC). A date-time
 * without a zone is refused: which zone it meant cannot be known, and stamps are written in UTC.
 */
const MOMENT_FORMS = 'now, -30s, -15m, -4h, -2d, or ISO 8601 with Z or an offset such as 2026-12-06T10:00:00Z (a bare date is midnight UTC)';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const RELATIVE = /^-(\d+)([smhd])$/;
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** Epoch ms of a moment, `nowMs` being the reference for `now` and relative forms. */
export function parseMoment(text: string, nowMs: number): Result<number> {
  const t = text.trim();
  if (t === 'now') return ok(nowMs);
  const rel = RELATIVE.exec(t);
  if (rel !== null) return ok(nowMs - Number(rel[1]) * UNIT_MS[rel[2] as keyof typeof UNIT_MS]);
  const iso = ISO.exec(t);
  if (iso !== null) {
    const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '0', zone = 'Z'] = iso;
    const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number(frac.padEnd(3, '0')));
    // Date.UTC rolls 2026-02-30 over into March: a date that does not come back unchanged does not exist
    const back = new Date(utc);
    const exists =
      back.getUTCFullYear() === Number(y) && back.getUTCMonth() === Number(mo) - 1 && back.getUTCDate() === Number(d) && Number(h) < 24 && Number(mi) < 60 && Number(s) < 60;
    if (!exists) return fail('invalid-moment', `${JSON.stringify(text)} is not a date and time that exists`);
    if (zone === 'Z') return ok(utc);
    const sign = zone.startsWith('-') ? -1 : 1;
    const [zh, zm] = zone.slice(1).split(':').map(Number) as [number, number];
    if (zh > 23 || zm > 59) return fail('invalid-moment', `${JSON.stringify(text)} has a zone offset that does not exist`);
    return ok(utc - sign * (zh * 60 + zm) * 60_000);
  }
  if (/^\d{4}-\d{2}-\d{2}T[\d:.]+$/.test(t)) {
    return fail('invalid-moment', `${JSON.stringify(text)} has no zone: add Z for UTC or an offset such as +01:00`);
  }
  return fail('invalid-moment', `${JSON.stringify(text)} is not a time; use ${MOMENT_FORMS}`);
}
