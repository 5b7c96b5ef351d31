/**
 * The client's half of Raft client sessions (dissertation §6.3), shared by
 * the in-process client (`EmbeddedKv`) and the HTTP client: one session id,
 * registered on first use; a sequence number per write, carried unchanged by
 * every retry of it so the cluster applies it once; the lowest sequence
 * number still unanswered, so the cluster can forget older replies; and
 * renewal when the cluster expired the session while the client was idle.
 */
import type { SessionTag } from "../core/kv/index.ts";

/** What one write is told about its attempts: whether any may have applied (a timeout). */
export interface WriteAttempts {
  ambiguous: boolean;
}

export class ClientSession {
  private clientId: number | null = null;
  private registering: Promise<number> | null = null;
  private seq = 0;
  private readonly outstanding = new Set<number>();

  constructor(
    /** Registers a new session; may be retried (a duplicate only leaves an unused session behind). */
    private readonly register: () => Promise<number>,
    /** True for the error the cluster answers when the session expired. */
    private readonly isExpired: (error: unknown) => boolean,
  ) {}

  /**
   * Runs `send` (which retries as its transport allows) under this session.
   * `tag()` gives the session fields for each attempt. If the session
   * expired and no attempt was ambiguous, the write certainly never applied,
   * so it goes once more under a new session; otherwise the error stands.
   */
  async write<T>(send: (tag: () => SessionTag, attempts: WriteAttempts) => Promise<T>): Promise<T> {
    for (let renewed = false; ; renewed = true) {
      const clientId = await this.id();
      const seq = ++this.seq;
      this.outstanding.add(seq);
      const attempts: WriteAttempts = { ambiguous: false };
      try {
        return await send(() => ({ clientId, seq, firstUnackedSeq: Math.min(...this.outstanding) }), attempts);
      } catch (error) {
        if (!this.isExpired(error)) throw error;
        if (this.clientId === clientId) this.clientId = null;
        if (renewed || attempts.ambiguous) throw error;
      } finally {
        this.outstanding.delete(seq);
      }
    }
  }

  private async id(): Promise<number> {
    if (this.clientId !== null) return this.clientId;
    this.registering ??= this.register().finally(() => {
      this.registering = null;
    });
    this.clientId = await this.registering;
    return this.clientId;
  }
}
