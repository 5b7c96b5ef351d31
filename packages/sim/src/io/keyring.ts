/**
 * Encryption of every packet and stream frame with AES-256-GCM, and the
 * keyring that makes key rotation possible without a flag day (memberlist's
 * keyring.go and security.go; Consul's `keyring -install/-use/-remove`).
 *
 * The keyring holds several keys; the first is the *primary*, used to
 * encrypt. Decryption tries every key, so a rotation is three cluster-wide
 * steps with no moment where two members cannot talk: install the new key
 * everywhere, make it primary everywhere, remove the old one everywhere.
 *
 * Envelope: `0xE1 | nonce (12 bytes) | ciphertext | tag (16 bytes)`, with
 * the version byte (and any caller context, see `seal`) bound as additional
 * authenticated data. 0xE1 is never a swim message type, so a plaintext node
 * can tell an encrypted packet from garbage. GCM authenticates: a packet
 * sealed with an unknown key, or altered on the way, fails to open and is
 * dropped and counted.
 *
 * This is the one implementation of the cipher in Heck: swim seals its
 * messages with it, and `openTransport({ keyring })` seals every UDP packet
 * and TCP frame of the transport crdt-kv, raft-kv and v2 share.
 */
import { createCipheriv, createDecipheriv, createHash, createSecretKey, randomBytes, randomFillSync, type KeyObject } from "node:crypto";

/** The envelope's first byte. */
export const ENCRYPTED_VERSION = 0xe1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes encryption adds to each packet or frame: version + nonce + tag. */
export const ENCRYPTION_OVERHEAD_BYTES = 1 + NONCE_BYTES + TAG_BYTES;
/** AES-256 keys are 32 bytes. */
export const KEY_BYTES = 32;
const AAD = Uint8Array.of(ENCRYPTED_VERSION);

/** A bad key or keyring operation; the message says what and why. */
export class KeyringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyringError";
  }
}

/** Why a sealed buffer could not be opened. */
export type OpenFailure = "not-encrypted" | "too-short" | "no-key-matches";

/** Parses a key given as base64 (as `heck-swim keygen` or `openssl rand -base64 32` prints it); throws a KeyringError naming the problem. */
export function parseKey(text: string): Uint8Array {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) throw new KeyringError(`key: must be base64, got ${JSON.stringify(text.slice(0, 12))}...`);
  const key = Buffer.from(trimmed, "base64");
  if (key.length !== KEY_BYTES) throw new KeyringError(`key: must decode to ${KEY_BYTES} bytes (AES-256), got ${key.length}`);
  return new Uint8Array(key);
}

/** A fresh random 32-byte key, base64-encoded. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString("base64");
}

/** A short, non-secret name for a key: the first 8 hex digits of its SHA-256. */
export function keyFingerprint(key: Uint8Array): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 8);
}

/** Nonces drawn per refill of the pool (one randomFillSync call instead of one per packet). */
const NONCE_POOL = 256;

/** An ordered set of AES-256 keys; index 0 is the primary. */
export class Keyring {
  private keys: Uint8Array[] = [];
  /** The same keys as KeyObjects, imported once rather than on every packet. */
  private keyObjects: KeyObject[] = [];
  /** Index of the key that opened the last packet: during a rotation most packets use one key, so try it first. */
  private lastOpened = 0;
  private readonly nonces = Buffer.alloc(NONCE_BYTES * NONCE_POOL);
  private noncesLeft = 0;

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

  /** Makes an installed key the primary (the one we encrypt with). */
  use(key: Uint8Array): void {
    const i = this.indexOf(key);
    if (i < 0) throw new KeyringError(`keyring: key ${keyFingerprint(key)} is not installed; install it first`);
    const [k] = this.keys.splice(i, 1);
    this.keys.unshift(k!);
    const [o] = this.keyObjects.splice(i, 1);
    this.keyObjects.unshift(o!);
    this.lastOpened = 0;
  }

  /** Removes a key; the primary cannot be removed (make another key primary first). */
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

  /**
   * Encrypts with the primary key. `context`, if given, is authenticated but
   * not sent: `open` must be given the same bytes (the transport passes a
   * stream direction and frame number, so frames cannot be replayed,
   * reordered or reflected within a stream).
   */
  seal(plaintext: Uint8Array, context?: Uint8Array): Uint8Array {
    // A fresh random 96-bit nonce per packet, as memberlist does, drawn from a pool filled in bulk.
    if (this.noncesLeft === 0) {
      randomFillSync(this.nonces);
      this.noncesLeft = NONCE_POOL;
    }
    const at = --this.noncesLeft * NONCE_BYTES;
    const nonce = this.nonces.subarray(at, at + NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.keyObjects[0]!, nonce);
    cipher.setAAD(aad(context));
    const body = cipher.update(plaintext);
    const final = cipher.final();
    const tag = cipher.getAuthTag();
    const out = new Uint8Array(ENCRYPTION_OVERHEAD_BYTES + body.length + final.length);
    out[0] = ENCRYPTED_VERSION;
    out.set(nonce, 1);
    out.set(body, 1 + NONCE_BYTES);
    if (final.length > 0) out.set(final, 1 + NONCE_BYTES + body.length);
    out.set(tag, out.length - TAG_BYTES);
    return out;
  }

  /** Decrypts with whichever installed key works, the last one that worked first; never throws. `context` as given to `seal`. */
  open(sealed: Uint8Array, context?: Uint8Array): { ok: true; plaintext: Uint8Array } | { ok: false; reason: OpenFailure } {
    if (sealed.length === 0 || sealed[0] !== ENCRYPTED_VERSION) return { ok: false, reason: "not-encrypted" };
    if (sealed.length < ENCRYPTION_OVERHEAD_BYTES) return { ok: false, reason: "too-short" };
    const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
    const body = sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const ad = aad(context);
    const n = this.keyObjects.length;
    const first = this.lastOpened < n ? this.lastOpened : 0;
    for (let k = 0; k < n; k++) {
      const i = (first + k) % n;
      try {
        const decipher = createDecipheriv("aes-256-gcm", this.keyObjects[i]!, nonce);
        decipher.setAAD(ad);
        decipher.setAuthTag(tag);
        const a = decipher.update(body);
        const b = decipher.final(); // throws if the tag does not verify: wrong key or tampering
        this.lastOpened = i;
        if (b.length === 0) return { ok: true, plaintext: new Uint8Array(a.buffer, a.byteOffset, a.length) };
        const plaintext = new Uint8Array(a.length + b.length);
        plaintext.set(a);
        plaintext.set(b, a.length);
        return { ok: true, plaintext };
      } catch (_wrongKey) {
        // try the next key
      }
    }
    return { ok: false, reason: "no-key-matches" };
  }

  private indexOf(key: Uint8Array): number {
    return this.keys.findIndex((k) => k.length === key.length && k.every((b, i) => b === key[i]));
  }
}

/** The authenticated data: the version byte, then the caller's context. */
function aad(context: Uint8Array | undefined): Uint8Array {
  if (context === undefined || context.length === 0) return AAD;
  const out = new Uint8Array(1 + context.length);
  out[0] = ENCRYPTED_VERSION;
  out.set(context, 1);
  return out;
}

/** A keyring from base64 keys, primary first (as `--key` flags give them); throws a KeyringError naming the bad key. */
export function keyringFromBase64(keys: readonly string[]): Keyring {
  if (keys.length === 0) throw new KeyringError("keys: needs at least one base64 key");
  return new Keyring(
    keys.map((k, i) => {
      try {
        return parseKey(k);
      } catch (e) {
        throw new KeyringError(`keys[${i}]: ${(e as Error).message}`);
      }
    }),
  );
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) throw new KeyringError(`key: must be ${KEY_BYTES} bytes (AES-256), got ${key?.length}`);
}
