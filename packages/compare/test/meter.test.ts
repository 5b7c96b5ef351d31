/**
 * The meter's definition of "visible on every node": a node has seen a write
 * once it holds that version or a newer one; nodes that go away stop holding
 * writes up; failed writes are not waited for.
 */
import { describe, expect, it } from "vitest";
import { Meter } from "../src/sim/meter.ts";

function meter(): Meter {
  const m = new Meter(["a", "b", "c"]);
  for (const id of ["a", "b", "c"]) m.setLive(id, true, 0);
  return m;
}

const v = (hlcMs: number, observer = "a") => ({ hlcMs, observer });

describe("Meter visibility", () => {
  it("a write is visible once every live node holds it", () => {
    const m = meter();
    const h = m.write("k", v(1), 100);
    h.confirmed = true;
    m.observe("a", "k", v(1), 100);
    m.observe("b", "k", v(1), 110);
    expect(m.pendingWrites()).toBe(1);
    m.observe("c", "k", v(1), 130);
    expect(m.pendingWrites()).toBe(0);
    expect(m.visibility()).toEqual({ samples: [30], invisible: 0 });
  });

  it("a newer version supersedes: a node that skipped a write but holds its successor has seen it", () => {
    const m = meter();
    const h1 = m.write("k", v(1), 0);
    const h2 = m.write("k", v(2, "b"), 5);
    h1.confirmed = h2.confirmed = true;
    for (const id of ["a", "b", "c"]) m.observe(id, "k", v(2, "b"), 20);
    expect(m.visibility().samples.sort((x, y) => x - y)).toEqual([15, 20]);
  });

  it("an older version does not count, and the version order is (hlc, observer)", () => {
    const m = meter();
    const h = m.write("k", v(5, "b"), 0);
    h.confirmed = true;
    m.observe("a", "k", v(5, "a"), 1);
    m.observe("b", "k", v(4, "z"), 1);
    m.observe("c", "k", v(5, "b"), 1);
    expect(m.pendingWrites()).toBe(1);
    m.observe("a", "k", v(5, "c"), 9);
    m.observe("b", "k", v(6, "a"), 9);
    expect(m.pendingWrites()).toBe(0);
  });

  it("a crashed node stops holding writes up; a cancelled write is not waited for; unconfirmed writes are not counted", () => {
    const m = meter();
    const h = m.write("k", v(1), 0);
    h.confirmed = true;
    m.observe("a", "k", v(1), 1);
    m.observe("b", "k", v(1), 2);
    m.setLive("c", false, 50);
    expect(m.visibility().samples).toEqual([50]);
    const f = m.write("k", v(9), 60);
    m.cancel(f);
    const u = m.write("j", v(9), 60);
    expect(m.pendingWrites()).toBe(0);
    expect(u.confirmed).toBe(false);
    expect(m.visibility().invisible).toBe(0);
  });

  it("a joiner's catch-up ends when it holds every version completed before its join", () => {
    const m = new Meter(["a", "b", "j"]);
    m.setLive("a", true, 0);
    m.setLive("b", true, 0);
    m.completed("k1", v(1));
    m.completed("k2", v(2));
    m.setLive("j", true, 100);
    m.startCatchUp("j", 100);
    m.observe("j", "k1", v(1), 150);
    expect(m.catchUpResults()[0]!.ms).toBeNull();
    m.observe("j", "k2", v(3), 180);
    expect(m.catchUpResults()).toEqual([{ node: "j", startMs: 100, ms: 80 }]);
  });

  it("counts traffic per node, and snapshots are independent copies", () => {
    const m = meter();
    m.sent(0, 100, 40);
    const s = m.snapshot();
    m.received(1, 100);
    expect(s[0]).toMatchObject({ msgsOut: 1, bytesOut: 100, payloadOut: 40 });
    expect(s[1]!.msgsIn).toBe(0);
    expect(m.snapshot()[1]!.msgsIn).toBe(1);
  });
});
