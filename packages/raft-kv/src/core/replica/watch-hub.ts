/**
 * Watches (etcd's Watch API) on one replica: each watcher sees the events of
 * its key range in revision order, every revision once, starting from a
 * revision it chose (replayed from the state machine's history) and then
 * live as entries are applied here. After a snapshot replaces the state
 * machine, watchers catch up from the new history, or are cancelled when the
 * events they still need were compacted away.
 */
import { inRange, toByteString, type KvEvent, type KvStore } from "../kv/index.ts";

/** Options of one watch (etcd's WatchCreateRequest). */
export interface WatchOptions {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  /** Replay events from this revision; 0 or absent = from now. */
  startRevision?: number;
  prevKv?: boolean;
  noPut?: boolean;
  noDelete?: boolean;
}

/** A live watch; call cancel() to stop it. */
export interface WatchHandle {
  readonly id: number;
  cancel(): void;
}

/** Receives a watch's events (in revision order) and, once, its cancellation. */
export interface WatchListener {
  onEvents(events: KvEvent[], revision: number): void;
  onCancel(reason: string, compactRevision: number): void;
}

/**
 * What a new watch must be told before live events: past events to replay,
 * or that its start revision was compacted (the watch is then not
 * registered). The caller delivers it after handing out the handle.
 */
export type WatchStart = { kind: "live" } | { kind: "replay"; events: KvEvent[]; revision: number } | { kind: "compacted"; reason: string; compactRevision: number };

interface Watcher {
  readonly id: number;
  readonly start: string;
  readonly end: string | undefined;
  nextRevision: number;
  readonly options: WatchOptions;
  readonly listener: WatchListener;
}

/** Every watch of one replica. */
export class WatchHub {
  private readonly watchers = new Map<number, Watcher>();
  private nextId = 1;

  /** Number of live watches. */
  get size(): number {
    return this.watchers.size;
  }

  /** Starts a watch on `kv`'s current state (etcd semantics: replay from startRevision, then live events). */
  watch(kv: KvStore, options: WatchOptions, listener: WatchListener): { handle: WatchHandle; start: WatchStart } {
    const id = this.nextId++;
    const w: Watcher = {
      id,
      start: toByteString(options.key),
      end: options.rangeEnd && options.rangeEnd.length > 0 ? toByteString(options.rangeEnd) : undefined,
      nextRevision: kv.revision + 1,
      options,
      listener,
    };
    let start: WatchStart = { kind: "live" };
    const from = options.startRevision ?? 0;
    if (from > 0 && from <= kv.revision) {
      const past = kv.eventsSince(from, options.key, options.rangeEnd);
      if (!past.ok) {
        const reason = `required revision ${from} has been compacted (compact revision ${past.compactRevision})`;
        return { handle: { id, cancel: () => {} }, start: { kind: "compacted", reason, compactRevision: past.compactRevision } };
      }
      const events = this.filter(w, past.events);
      if (events.length > 0) start = { kind: "replay", events, revision: kv.revision };
    } else if (from > kv.revision) {
      w.nextRevision = from;
    }
    this.watchers.set(id, w);
    return { handle: { id, cancel: () => this.watchers.delete(id) }, start };
  }

  /** Live events of one applied revision. */
  notify(events: KvEvent[], revision: number): void {
    for (const w of this.watchers.values()) {
      if (revision < w.nextRevision) continue;
      w.nextRevision = revision + 1;
      const mine = this.filter(w, events);
      if (mine.length > 0) w.listener.onEvents(mine, revision);
    }
  }

  /** After a snapshot install, catch watchers up from the new history (or cancel them if it is gone). */
  resync(kv: KvStore): void {
    for (const w of [...this.watchers.values()]) {
      const past = kv.eventsSince(w.nextRevision, w.options.key, w.options.rangeEnd);
      if (!past.ok) {
        this.watchers.delete(w.id);
        w.listener.onCancel(`events from revision ${w.nextRevision} were compacted by a snapshot`, past.compactRevision);
        continue;
      }
      const events = this.filter(w, past.events);
      w.nextRevision = kv.revision + 1;
      if (events.length > 0) w.listener.onEvents(events, kv.revision);
    }
  }

  /** Cancels every watch with `reason` (the node stops). */
  cancelAll(reason: string): void {
    const all = [...this.watchers.values()];
    this.watchers.clear();
    for (const w of all) w.listener.onCancel(reason, 0);
  }

  private filter(w: Watcher, events: KvEvent[]): KvEvent[] {
    const out: KvEvent[] = [];
    for (const e of events) {
      if (e.type === "put" && w.options.noPut) continue;
      if (e.type === "delete" && w.options.noDelete) continue;
      if (!inRange(toByteString(e.kv.key), w.start, w.end)) continue;
      out.push(w.options.prevKv || !e.prevKv ? e : { type: e.type, kv: e.kv });
    }
    return out;
  }
}
