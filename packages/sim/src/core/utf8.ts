/**
 * UTF-8 byte length of a string without allocating: the byte count the wire
 * would carry. Shared by every stage's size limits and byte accounting.
 */
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * The number of bytes `s` takes in UTF-8 (what `Buffer.byteLength(s)` gives),
 * computed without encoding it. A lone surrogate counts 3 bytes, as the
 * encoder writes U+FFFD for it.
 */
export function utf8Length(s: string): number {
  // Wire text is almost all ASCII: one byte per char, found by one native scan.
  if (!NON_ASCII.test(s)) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
