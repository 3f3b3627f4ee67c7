// Draws the alert action's 48x48 icon (a red shield with a white check bar) as a PNG, with
// no image library: raw RGBA rows, zlib, CRC32. Run once; the PNG is committed under
// splunk_app/appserver/static/ so builds do not depend on it.
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const SIZE = 48;
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
};

const rows = [];
for (let y = 0; y < SIZE; y++) {
  const row = [0]; // filter: none
  for (let x = 0; x < SIZE; x++) {
    const cx = x - SIZE / 2 + 0.5;
    // Shield: straight top half, tapering to a point at the bottom.
    const halfWidth = y < 26 ? 18 : Math.max(0, 18 - (y - 26) * 0.85);
    const inside = y >= 4 && y <= 46 && Math.abs(cx) <= halfWidth;
    const bar = inside && y >= 20 && y <= 26 && Math.abs(cx) <= 11;
    const pole = inside && x >= 21 && x <= 26 && y >= 10 && y <= 36;
    if (bar || pole) row.push(255, 255, 255, 255);
    else if (inside) row.push(0xe7, 0x4c, 0x3c, 255);
    else row.push(0, 0, 0, 0);
  }
  rows.push(Buffer.from(row));
}
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(SIZE, 0);
ihdr.writeUInt32BE(SIZE, 4);
ihdr[8] = 8; // bit depth
ihdr[9] = 6; // RGBA
const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  chunk('IHDR', ihdr),
  chunk('IDAT', deflateSync(Buffer.concat(rows))),
  chunk('IEND', Buffer.alloc(0)),
]);
const out = new URL('../splunk_app/appserver/static/soar_response.png', import.meta.url);
writeFileSync(out, png);
console.log(`wrote ${out.pathname} (${png.length} bytes)`);
