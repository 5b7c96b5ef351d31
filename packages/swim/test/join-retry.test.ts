/**
 * Retrying a join (Consul's retry_join): the backoff schedule on its own,
 * then a node that keeps contacting its seed until it answers.
 */
import { createPrng } from "@heck/sim";
import { describe, expect, it } from "vitest";
import { JoinRetry, resolveJoinRetryPolicy } from "../src/core/join-retry.ts";
import type { PushPullMessage } from "../src/core/messages.ts";
import { makeNode, sent } from "./support/nodes.ts";

describe("the retry schedule", () => {
  it("backs off from the initial interval, doubling up to the cap, each wait in the upper half", () => {
    const r = new JoinRetry(["s"], resolveJoinRetryPolicy({ initialIntervalMs: 1000, maxIntervalMs: 5000 }));
    const prng = createPrng(3);
    const waits: number[] = [];
    let now = 0;
    for (let i = 0; i < 6; i++) {
      const due = r.attemptFailed(now, prng);
      waits.push(due - now);
      expect(r.status).toBe("waiting");
      now = due;
      r.attemptStarted();
    }
    const caps = [1000, 2000, 4000, 5000, 5000, 5000];
    waits.forEach((w, i) => {
      expect(w).toBeLessThanOrEqual(caps[i]!);
      expect(w).toBeGreaterThanOrEqual(caps[i]! / 2);
    });
    expect(r.attempts).toBe(7);
  });

  it("gives up after maxAttempts, and never with maxAttempts 0", () => {
    const prng = createPrng(1);
    const bounded = new JoinRetry(["s"], resolveJoinRetryPolicy({ maxAttempts: 2 }));
    bounded.attemptFailed(0, prng);
    bounded.attemptStarted();
    expect(bounded.attemptFailed(5000, prng)).toBe(Infinity);
    expect(bounded.status).toBe("gave-up");
    const forever = new JoinRetry(["s"], resolveJoinRetryPolicy());
    for (let i = 0; i < 1000; i++) {
      forever.attemptFailed(i * 60_000, prng);
      forever.attemptStarted();
    }
    expect(forever.active).toBe(true);
  });

  it("validates the policy, naming the field", () => {
    expect(() => resolveJoinRetryPolicy({ maxAttempts: -1 })).toThrow(/maxAttempts/);
    expect(() => resolveJoinRetryPolicy({ initialIntervalMs: 0 })).toThrow(/initialIntervalMs/);
    expect(() => resolveJoinRetryPolicy({ initialIntervalMs: 5000, maxIntervalMs: 1000 })).toThrow(/initialIntervalMs/);
    // A cap below the default start starts at the cap.
    expect(resolveJoinRetryPolicy({ maxIntervalMs: 200 }).initialIntervalMs).toBe(200);
  });
});

describe("a node retrying its join", () => {
  const policy = resolveJoinRetryPolicy({ initialIntervalMs: 1000, maxIntervalMs: 4000 });

  it("contacts the seed again after each failure until it answers, then stops", () => {
    const a = makeNode("a");
    a.join(["seed"], 0, policy);
    let pushes = sent(a).filter((o) => o.channel === "stream" && o.msg.type === "push-pull");
    expect(pushes.map((o) => o.to)).toEqual(["seed"]);
    // The seed is not up: the dial fails at once, three times over.
    let now = 0;
    const attemptTimes = [0];
    for (let i = 0; i < 3; i++) {
      a.streamFailed("seed", pushes[0]!.msg as PushPullMessage, now + 1);
      const p = a.joinProgress();
      expect(p.retry).toBe("waiting");
      expect(p.nextAttemptMs).toBeGreaterThan(now + 1);
      // Nothing is sent before the attempt is due (the node may still probe and gossip).
      now = a.nextDeadlineMs();
      while (now < p.nextAttemptMs) {
        a.tick(now);
        expect(sent(a).filter((o) => o.channel === "stream")).toEqual([]);
        now = a.nextDeadlineMs();
      }
      a.tick(now);
      pushes = sent(a).filter((o) => o.channel === "stream" && o.msg.type === "push-pull");
      expect(pushes.map((o) => o.to)).toEqual(["seed"]);
      attemptTimes.push(now);
    }
    expect(a.joinProgress()).toMatchObject({ attempts: 4, retry: "trying", pending: 1, failed: ["seed", "seed", "seed"] });
    // Backoff: each gap at least half the doubling interval.
    expect(attemptTimes[1]! - attemptTimes[0]!).toBeGreaterThanOrEqual(500);
    expect(attemptTimes[2]! - attemptTimes[1]!).toBeGreaterThanOrEqual(1000);
    expect(attemptTimes[3]! - attemptTimes[2]!).toBeGreaterThanOrEqual(2000);
    // Now the seed answers: joined, and no more attempts.
    a.receive("seed", { type: "push-pull", join: true, reply: true, members: [{ name: "s", addr: "seed", incarnation: 0, state: "alive", meta: new Uint8Array(0) }] }, "stream", now + 2);
    expect(a.joinProgress()).toMatchObject({ retry: "joined", pending: 0, succeeded: ["seed"], nextAttemptMs: Infinity });
    expect(a.member("s")?.state).toBe("alive");
    const end = now + 60_000;
    while (a.nextDeadlineMs() <= end) a.tick(a.nextDeadlineMs());
    expect(sent(a).filter((o) => o.channel === "stream" && o.msg.type === "push-pull" && o.msg.join)).toEqual([]);
  });

  it("a seed that never answers (timeout, not refusal) is retried too, and maxAttempts ends it", () => {
    const a = makeNode("a", { config: { streamTimeoutMs: 2000 } });
    a.join(["seed"], 0, { ...policy, maxAttempts: 3 });
    const end = 60_000;
    while (a.nextDeadlineMs() <= end) a.tick(a.nextDeadlineMs());
    const joins = sent(a).filter((o) => o.channel === "stream" && o.msg.type === "push-pull" && o.msg.join);
    expect(joins).toHaveLength(3);
    expect(a.joinProgress()).toMatchObject({ attempts: 3, retry: "gave-up", pending: 0, failed: ["seed", "seed", "seed"] });
  });

  it("without a policy a failed join is final, and leaving stops the retries", () => {
    const once = makeNode("a");
    once.join(["seed"], 0);
    once.streamFailed("seed", sent(once)[0]!.msg as PushPullMessage, 1);
    expect(once.joinProgress()).toMatchObject({ retry: "none", pending: 0, failed: ["seed"] });
    expect(once.nextDeadlineMs()).toBeGreaterThan(0);
    const leaver = makeNode("b");
    leaver.join(["seed"], 0, policy);
    leaver.streamFailed("seed", sent(leaver)[0]!.msg as PushPullMessage, 1);
    leaver.leave(2);
    expect(leaver.joinProgress().retry).toBe("stopped");
    expect(leaver.joinProgress().nextAttemptMs).toBe(Infinity);
  });
});
