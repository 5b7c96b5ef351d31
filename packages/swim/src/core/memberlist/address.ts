/**
 * Addresses as memberlist carries them: an IP as raw bytes (4 for IPv4, 16
 * for IPv6) and a port as a 16-bit number, where heck carries one
 * "host:port" string. Formatting follows Go's `net.JoinHostPort` and
 * RFC 5952, with one exception: an IPv4 address in its 16-byte form (Go's
 * `net.ParseIP` result, which memberlist advertises when bound to 0.0.0.0)
 * keeps that form as "[::ffff:a.b.c.d]:port". memberlist compares address
 * bytes, not addresses, so relaying it as 4 bytes would look like another
 * node claiming the name. {@link dialableAddress} gives the plain IPv4
 * address to send to.
 */

/** The two halves of an address, as memberlist's alive, indirect ping and node state messages hold them. */
export interface IpPort {
  ip: Uint8Array;
  port: number;
}

/** Parses "a.b.c.d:port" or "[v6]:port" into bytes and a port; undefined if it is not an IP literal with a port. */
export function parseIpPort(address: string): IpPort | undefined {
  let host: string;
  let portText: string;
  if (address.startsWith("[")) {
    const end = address.indexOf("]:");
    if (end < 0) return undefined;
    host = address.slice(1, end);
    portText = address.slice(end + 2);
  } else {
    const colon = address.lastIndexOf(":");
    if (colon < 0 || address.indexOf(":") !== colon) return undefined;
    host = address.slice(0, colon);
    portText = address.slice(colon + 1);
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 0xffff) return undefined;
  const ip = address.startsWith("[") ? parseIpv6(host) : parseIpv4(host);
  return ip === undefined ? undefined : { ip, port };
}

/** Formats IP bytes and a port as heck's "host:port"; undefined unless the IP has 4 or 16 bytes. */
export function formatIpPort(ip: Uint8Array, port: number): string | undefined {
  if (ip.length === 4) return `${ip.join(".")}:${port}`;
  if (ip.length !== 16) return undefined;
  if (isV4Mapped(ip)) return `[::ffff:${ip.subarray(12).join(".")}]:${port}`;
  return `[${formatIpv6(ip)}]:${port}`;
}

function isV4Mapped(ip: Uint8Array): boolean {
  return ip.subarray(0, 10).every((b) => b === 0) && ip[10] === 0xff && ip[11] === 0xff;
}

/** Where to send for an address: "[::ffff:a.b.c.d]:port" becomes "a.b.c.d:port" (an IPv4 socket cannot send to the 16-byte form); anything else is returned as is. */
export function dialableAddress(address: string): string {
  if (!address.startsWith("[::ffff:")) return address;
  const end = address.indexOf("]:");
  const host = address.slice(8, end);
  return end > 0 && host.includes(".") ? `${host}:${address.slice(end + 2)}` : address;
}

function parseIpv4(host: string): Uint8Array | undefined {
  const parts = host.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p[0] === "0")) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

function parseIpv6(host: string): Uint8Array | undefined {
  if (host.includes("%")) return undefined; // a zone is not an address memberlist can carry
  let text = host;
  let tail: Uint8Array | undefined;
  // A trailing dotted IPv4 part fills the last two groups.
  const lastColon = text.lastIndexOf(":");
  if (text.indexOf(".", lastColon) >= 0) {
    tail = parseIpv4(text.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === undefined || rest === undefined) return undefined;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i]! >> 8;
    out[2 * i + 1] = all[i]! & 0xff;
  }
  if (tail !== undefined) out.set(tail, 12);
  return out;
}

/** RFC 5952 text, as Go prints it: lower case, the longest run of two or more zero groups as "::". */
function formatIpv6(ip: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((ip[2 * i]! << 8) | ip[2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => g.slice(from, to).map((x) => x.toString(16)).join(":");
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}
