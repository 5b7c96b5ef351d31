/**
 * CRC-32 with the IEEE polynomial (Go's `crc32.ChecksumIEEE`, zlib's
 * `crc32`): memberlist protocol 5 prefixes packets with it so a corrupted
 * datagram is dropped rather than misread.
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

/** The IEEE CRC-32 of `bytes`, as an unsigned 32-bit number. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
