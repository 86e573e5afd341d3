#!/usr/bin/env node
// Draws the tray's template icons (black + alpha; macOS tints them for light and dark menu bars) at 16 px
// and 32 px (@2x) into src-main/assets. Run once; the PNGs are committed.
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const CRC = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function png(size, alphaAt) {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o + 3] = Math.round(255 * alphaAt(x, y, size));
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
// Shapes in a 16-unit square, sampled 4×4 per pixel for smooth edges.
const ring = (d) => d >= 5.5 && d <= 7;
const SHAPES = {
  connected: (x, y, d) => ring(d) || d <= 3.5,
  connecting: (x, y, d) => ring(d) && x < 8 !== y < 8,
  disconnected: (x, y, d) => ring(d),
  error: (x, y, d) => ring(d) || (d < 5.5 && Math.abs(x - y) < 1.1),
};
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'src-main', 'assets');
for (const [name, inside] of Object.entries(SHAPES)) {
  for (const [size, suffix] of [
    [16, ''],
    [32, '@2x'],
  ]) {
    const alpha = (px, py, s) => {
      let hit = 0;
      for (let i = 0; i < 4; i++)
        for (let j = 0; j < 4; j++) {
          const x = ((px + (i + 0.5) / 4) * 16) / s;
          const y = ((py + (j + 0.5) / 4) * 16) / s;
          if (inside(x, y, Math.hypot(x - 8, y - 8))) hit++;
        }
      return hit / 16;
    };
    writeFileSync(join(out, `tray-${name}Template${suffix}.png`), png(size, alpha));
  }
}
console.log(`tray icons written to ${out}`);
