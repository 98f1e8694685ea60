// CRC-32 (IEEE 802.3, the zlib/gzip/PNG polynomial) for checksumming stored
// records. Node's `zlib.crc32` (added in 22.2) runs in native code; the
// table-driven version below is the fallback for older runtimes and the
// reference the tests compare against. Both take a previous CRC as `initial`,
// so a checksum can cover several pieces (a key and its value) without
// concatenating them.

import * as zlib from 'node:zlib';

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** Table-driven CRC-32, one byte at a time. */
export function crc32Table(bytes: Uint8Array, initial = 0): number {
  let crc = (initial ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) crc = TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

type NativeCrc32 = (data: Uint8Array, initial?: number) => number;
const native = (zlib as { crc32?: NativeCrc32 }).crc32;

/** CRC-32 of `bytes`, continuing from `initial` (the CRC of what came before). An unsigned 32-bit integer. */
export const crc32: (bytes: Uint8Array, initial?: number) => number =
  typeof native === 'function' ? (bytes, initial = 0) => native(bytes, initial) : crc32Table;
