/**
 * CRC-32 with the IEEE polynomial (zlib's `crc32`, Go's
 * `crc32.ChecksumIEEE`): what raft-kv's WAL and snapshot files, crdt-kv's
 * WAL lines and memberlist's protocol-5 packets carry, so a torn or
 * corrupted record or datagram is told from a good one.
 */

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    // 0xEDB88320 is the IEEE polynomial 0x04C11DB7 with its bits reversed (LSB-first arithmetic).
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/** The IEEE CRC-32 of `bytes`, as an unsigned 32-bit number. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The IEEE CRC-32 of a string's UTF-8 bytes (the same number as `crc32` of its encoding). */
export function crc32Text(text: string): number {
  // Record text is almost always ASCII: one byte per char, no encoding pass.
  if (NON_ASCII.test(text)) return crc32(new TextEncoder().encode(text));
  let c = 0xffffffff;
  for (let i = 0; i < text.length; i++) c = TABLE[(c ^ text.charCodeAt(i)) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
