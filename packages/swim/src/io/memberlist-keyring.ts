/**
 * memberlist's keyring and cipher (`keyring.go`, `security.go`), for a
 * member speaking memberlist's wire: AES-GCM with keys of 16, 24 or 32
 * bytes (AES-128, -192, -256), the first key the primary.
 *
 * The sealed form is `version | nonce (12 bytes) | ciphertext | tag (16 bytes)`:
 * version 1 (what memberlist writes at protocol 2 and up, and what we
 * write) seals the message as it is; version 0 (protocol 1) pads it to the
 * AES block size first, PKCS#7 style, and we read it too. A packet is
 * sealed whole with no additional data; a stream authenticates the five
 * bytes in front of it (the encrypt type and the length), see
 * core/memberlist/codec.ts. Rotation works as heck's own keyring does
 * (install everywhere, use everywhere, remove everywhere): decryption tries
 * every installed key, the one that worked last first.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomFillSync, type KeyObject } from "node:crypto";
import { keyFingerprint, KeyringError } from "@heck/sim/io";
import type { MemberlistCipher } from "../core/memberlist/codec.ts";

/** Key lengths memberlist accepts (ValidateKey). */
export const MEMBERLIST_KEY_BYTES: readonly number[] = [16, 24, 32];
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const BLOCK_BYTES = 16;
/** Bytes version 1 sealing adds: version, nonce, tag (memberlist's encryptOverhead(1)). */
export const MEMBERLIST_ENCRYPTION_OVERHEAD_BYTES = 1 + NONCE_BYTES + TAG_BYTES;

/** Parses a memberlist key given as base64 (as `consul keygen` or `heck-swim keygen` prints it); throws a KeyringError naming the problem. */
export function parseMemberlistKey(text: string): Uint8Array {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) throw new KeyringError(`key: must be base64, got ${JSON.stringify(text.slice(0, 12))}...`);
  const key = new Uint8Array(Buffer.from(trimmed, "base64"));
  checkKey(key);
  return key;
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || !MEMBERLIST_KEY_BYTES.includes(key.length)) {
    throw new KeyringError(`key: must decode to 16, 24 or 32 bytes (AES-128, -192 or -256, as memberlist accepts), got ${key?.length}`);
  }
}

/** The keys a member speaking memberlist's wire seals and opens with; index 0 is the primary. */
export class MemberlistKeyring implements MemberlistCipher {
  readonly overheadBytes = MEMBERLIST_ENCRYPTION_OVERHEAD_BYTES;
  private keys: Uint8Array[] = [];
  private keyObjects: KeyObject[] = [];
  private lastOpened = 0;

  /** @param keys the initial keys, primary first (at least one). */
  constructor(keys: readonly Uint8Array[]) {
    if (keys.length === 0) throw new KeyringError("keyring: needs at least one key");
    for (const k of keys) this.install(k);
  }

  /** Adds a key for decryption (no-op if present). */
  install(key: Uint8Array): void {
    checkKey(key);
    if (this.indexOf(key) >= 0) return;
    this.keys.push(new Uint8Array(key));
    this.keyObjects.push(createSecretKey(key));
  }

  /** Makes an installed key the primary, the one we seal with. */
  use(key: Uint8Array): void {
    const i = this.indexOf(key);
    if (i < 0) throw new KeyringError(`keyring: key ${keyFingerprint(key)} is not installed; install it first`);
    this.keys.unshift(...this.keys.splice(i, 1));
    this.keyObjects.unshift(...this.keyObjects.splice(i, 1));
    this.lastOpened = 0;
  }

  /** Removes a key; the primary cannot be removed (memberlist refuses too). */
  remove(key: Uint8Array): void {
    const i = this.indexOf(key);
    if (i < 0) throw new KeyringError(`keyring: key ${keyFingerprint(key)} is not installed`);
    if (i === 0) throw new KeyringError(`keyring: key ${keyFingerprint(key)} is the primary key; use another key first`);
    this.keys.splice(i, 1);
    this.keyObjects.splice(i, 1);
    this.lastOpened = 0;
  }

  /** Fingerprints of the installed keys, primary first. */
  list(): { primary: string; keys: string[] } {
    const keys = this.keys.map(keyFingerprint);
    return { primary: keys[0]!, keys };
  }

  /** Seals with the primary key, version 1: `1 | nonce | ciphertext | tag`, authenticating `aad`. */
  seal(plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    const out = new Uint8Array(MEMBERLIST_ENCRYPTION_OVERHEAD_BYTES + plaintext.length);
    out[0] = 1;
    const nonce = out.subarray(1, 1 + NONCE_BYTES);
    randomFillSync(nonce); // a fresh random nonce per message, as memberlist draws one
    const cipher = createCipheriv(algorithm(this.keys[0]!), this.keyObjects[0]!, nonce);
    cipher.setAAD(aad);
    const body = cipher.update(plaintext);
    cipher.final();
    out.set(body, 1 + NONCE_BYTES);
    out.set(cipher.getAuthTag(), out.length - TAG_BYTES);
    return out;
  }

  /** Opens version 0 or 1 with whichever installed key works; never throws. */
  open(sealed: Uint8Array, aad: Uint8Array): { ok: true; plaintext: Uint8Array } | { ok: false; reason: string } {
    if (sealed.length === 0) return { ok: false, reason: "empty" };
    const version = sealed[0]!;
    if (version > 1) return { ok: false, reason: `unknown encryption version ${version}` };
    const minimum = version === 0 ? MEMBERLIST_ENCRYPTION_OVERHEAD_BYTES + BLOCK_BYTES : MEMBERLIST_ENCRYPTION_OVERHEAD_BYTES;
    if (sealed.length < minimum) return { ok: false, reason: `too short (${sealed.length} bytes)` };
    const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
    const body = sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const n = this.keys.length;
    const first = this.lastOpened < n ? this.lastOpened : 0;
    for (let k = 0; k < n; k++) {
      const i = (first + k) % n;
      let plain: Uint8Array;
      try {
        const decipher = createDecipheriv(algorithm(this.keys[i]!), this.keyObjects[i]!, nonce);
        decipher.setAAD(aad);
        decipher.setAuthTag(tag);
        plain = new Uint8Array(Buffer.concat([decipher.update(body), decipher.final()]));
      } catch (_wrongKey) {
        continue;
      }
      this.lastOpened = i;
      if (version === 1) return { ok: true, plaintext: plain };
      // Version 0 padded to the block size: the last byte says how many bytes of padding.
      const pad = plain[plain.length - 1] ?? 0;
      if (pad < 1 || pad > BLOCK_BYTES || pad > plain.length) return { ok: false, reason: "bad padding" };
      return { ok: true, plaintext: plain.subarray(0, plain.length - pad) };
    }
    return { ok: false, reason: "no installed key opens it" };
  }

  private indexOf(key: Uint8Array): number {
    return this.keys.findIndex((k) => k.length === key.length && k.every((b, i) => b === key[i]));
  }
}

function algorithm(key: Uint8Array): "aes-128-gcm" | "aes-192-gcm" | "aes-256-gcm" {
  return key.length === 16 ? "aes-128-gcm" : key.length === 24 ? "aes-192-gcm" : "aes-256-gcm";
}
