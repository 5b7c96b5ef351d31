import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ENCRYPTION_OVERHEAD_BYTES, generateKey, Keyring, keyFingerprint, parseKey } from "../src/io/keyring.ts";

const k1 = parseKey(generateKey());
const k2 = parseKey(generateKey());
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("Keyring (AES-256-GCM)", () => {
  it("seals with the primary key and opens with any installed key", () => {
    const a = new Keyring([k1]);
    const sealed = a.seal(bytes("hello"));
    expect(sealed.length).toBe(5 + ENCRYPTION_OVERHEAD_BYTES);
    const b = new Keyring([k2]);
    expect(b.open(sealed)).toEqual({ ok: false, reason: "no-key-matches" });
    b.install(k1);
    expect(b.open(sealed)).toEqual({ ok: true, plaintext: bytes("hello") });
  });

  it("never reuses a nonce, across refills of its nonce pool", () => {
    const ring = new Keyring([k1]);
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) seen.add(Buffer.from(ring.seal(bytes("x")).subarray(1, 13)).toString("hex"));
    expect(seen.size).toBe(1000);
  });

  it("opens packets under whichever key sealed them while the cluster rotates, in any order", () => {
    const ring = new Keyring([k1, k2]);
    const old = new Keyring([k1]).seal(bytes("old"));
    const fresh = new Keyring([k2]).seal(bytes("new"));
    for (const [sealed, text] of [[fresh, "new"], [old, "old"], [fresh, "new"], [fresh, "new"], [old, "old"]] as const) {
      expect(ring.open(sealed)).toEqual({ ok: true, plaintext: bytes(text) });
    }
    ring.use(k2);
    ring.remove(k1);
    expect(ring.open(old)).toEqual({ ok: false, reason: "no-key-matches" });
    expect(ring.open(ring.seal(bytes("after")))).toEqual({ ok: true, plaintext: bytes("after") });
  });

  it("rejects any tampered byte (authenticated encryption)", () => {
    const ring = new Keyring([k1]);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (plain, pos, flip) => {
        const sealed = ring.seal(plain);
        const i = pos % sealed.length;
        sealed[i] = sealed[i]! ^ flip;
        const r = ring.open(sealed);
        expect(r.ok).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it("tells plaintext and short buffers apart from wrong keys", () => {
    const ring = new Keyring([k1]);
    expect(ring.open(Uint8Array.of(1, 2, 3))).toEqual({ ok: false, reason: "not-encrypted" });
    expect(ring.open(Uint8Array.of(0xe1, 2, 3))).toEqual({ ok: false, reason: "too-short" });
    expect(ring.open(new Uint8Array(0))).toEqual({ ok: false, reason: "not-encrypted" });
  });

  it("rotates: install, use, remove; the primary cannot be removed", () => {
    const ring = new Keyring([k1]);
    ring.install(k2);
    expect(ring.list()).toEqual({ primary: keyFingerprint(k1), keys: [keyFingerprint(k1), keyFingerprint(k2)] });
    expect(() => ring.remove(k1)).toThrow(/is the primary key/);
    ring.use(k2);
    expect(ring.list().primary).toBe(keyFingerprint(k2));
    ring.remove(k1);
    expect(ring.list().keys).toEqual([keyFingerprint(k2)]);
    expect(() => ring.use(k1)).toThrow(/not installed/);
  });

  it("validates keys with messages naming the problem", () => {
    expect(() => parseKey("not base64!")).toThrow(/key: must be base64/);
    expect(() => parseKey(Buffer.alloc(16).toString("base64"))).toThrow(/key: must decode to 32 bytes \(AES-256\), got 16/);
    expect(() => new Keyring([])).toThrow(/at least one key/);
  });
});
