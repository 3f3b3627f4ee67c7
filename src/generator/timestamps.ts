/**
 * Timestamp text for generated lines, in UTC so output does not depend on the machine's zone.
 * Scenario time moves forward by milliseconds to minutes per event, so most consecutive events
 * share a second: each stamper remembers the last second it rendered and only rebuilds the text
 * when the second changes (Date formatting per event would dominate the hot loop otherwise).
 */
export interface Stamper {
  (epochMs: number): string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function three(n: number): string {
  return n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n);
}

function perSecond(render: (d: Date) => string): (epochMs: number) => string {
  let second = Number.NaN;
  let text = '';
  return (epochMs) => {
    const s = Math.floor(epochMs / 1000);
    if (s !== second) {
      second = s;
      text = render(new Date(s * 1000));
    }
    return text;
  };
}

/** `2024-05-01 13:04:05` — the seed scripts' strftime("%Y-%m-%d %H:%M:%S") */
export function kvStamper(): Stamper {
  return perSecond(
    (d) => `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`,
  );
}

/** `Dec 10 06:55:46` / `May  1 13:04:05` — RFC 3164 syslog, day padded with a space, no year */
export function syslogStamper(): Stamper {
  return perSecond((d) => {
    const day = d.getUTCDate();
    return `${MONTHS[d.getUTCMonth()]} ${day < 10 ? ` ${day}` : day} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  });
}

/** `2016-09-19T16:50:06.477Z` — ISO 8601 with milliseconds, as Windows' TimeCreated (to ms) */
export function isoStamper(): Stamper {
  const prefix = perSecond(
    (d) => `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}T${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}.`,
  );
  return (epochMs) => {
    const whole = Math.floor(epochMs);
    return `${prefix(whole)}${three(((whole % 1000) + 1000) % 1000)}Z`;
  };
}
