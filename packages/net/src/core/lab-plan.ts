/**
 * The shape of a lab as data: its name, subnet, namespaces, interfaces and
 * addresses, computed from a lab index and a list of host names. Nothing
 * here touches the system; `src/io/lab.ts` builds what the plan says.
 *
 * Topology (lab k, hosts h_1..h_n):
 *
 * ```
 *   current ("root") namespace          hecklab-k-sw                 hecklab-k-<host>
 *   hecklab<k> 10.77.k.1/24 ──veth── uplink ─┐
 *                                            br0 ── h1 ──veth── eth0 10.77.k.11/24
 *                                             └──── h2 ──veth── eth0 10.77.k.12/24 ...
 * ```
 *
 * The bridge lives in a namespace of its own, so every kernel object the lab
 * creates sits in a namespace whose name starts with `hecklab-`: deleting
 * those namespaces removes everything, including the root side of the
 * uplink (a veth end disappears with its peer). The only name the lab
 * adds to the current namespace is the uplink `hecklab<k>`.
 */

/** Every lab namespace starts with this, and nothing else does; leftover cleanup removes only these. */
export const LAB_PREFIX = "hecklab";
/** Lab k owns 10.77.k.0/24 (k = 1..254). */
export const SUBNET_PREFIX = "10.77";
/** Highest lab index. */
export const MAX_LAB_INDEX = 254;
/** Host i (0-based) gets 10.77.k.(HOST_OFFSET + i); .1 is the current namespace's end of the uplink. */
export const HOST_OFFSET = 11;
/** At most this many hosts per lab (addresses .11-.250). */
export const MAX_HOSTS = 240;

/** One host of a lab: a network namespace with one interface on the lab's bridge. */
export interface HostPlan {
  /** The name used in commands and faults ("n1", "fleet"). */
  name: string;
  /** The namespace, usable with `ip netns exec`. */
  netns: string;
  /** The host's IPv4 address on the lab's subnet. */
  address: string;
  /** The bridge port's name inside the switch namespace. */
  switchLink: string;
}

/** A whole lab. */
export interface LabPlan {
  index: number;
  /** `hecklab-<k>`; every namespace of the lab starts with `<name>-`. */
  name: string;
  /** `10.77.k.0/24`. */
  subnet: string;
  /** The current namespace's address on the lab (`10.77.k.1`): clients there reach every host through it. */
  rootAddress: string;
  /** The uplink's name in the current namespace. */
  rootLink: string;
  /** The namespace holding the bridge. */
  switchNetns: string;
  hosts: HostPlan[];
}

/** Host names are short identifiers: they end up in namespace names and on command lines. */
export const HOST_NAME = /^[a-z][a-z0-9]{0,15}$/;

/** Checks a list of host names; returns an error naming the first bad one, or undefined. */
export function validateHostNames(names: readonly string[]): string | undefined {
  if (names.length === 0) return "hosts: at least one host is needed";
  if (names.length > MAX_HOSTS) return `hosts: at most ${MAX_HOSTS}, got ${names.length}`;
  const seen = new Set<string>();
  for (const n of names) {
    if (!HOST_NAME.test(n)) return `host ${JSON.stringify(n)}: a lowercase letter, then up to 15 lowercase letters or digits`;
    if (n === "sw") return `host "sw": the name is taken by the lab's switch`;
    if (seen.has(n)) return `host ${n}: named twice`;
    seen.add(n);
  }
  return undefined;
}

/** Default host names h1..hn. */
export function defaultHostNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `h${i + 1}`);
}

/** The namespace name prefix of lab k (`hecklab-<k>-`). */
export function labNetnsPrefix(index: number): string {
  return `${LAB_PREFIX}-${index}-`;
}

/** Parses a lab index out of a namespace name of ours, or undefined when the name is not one. */
export function labIndexOfNetns(netns: string): number | undefined {
  const m = /^hecklab-(\d{1,3})-[a-z][a-z0-9]*$/.exec(netns);
  if (!m) return undefined;
  const k = Number(m[1]);
  return k >= 1 && k <= MAX_LAB_INDEX ? k : undefined;
}

/** The plan of lab `index` with these hosts (validated; throws RangeError on bad input). */
export function planLab(index: number, hostNames: readonly string[]): LabPlan {
  if (!Number.isInteger(index) || index < 1 || index > MAX_LAB_INDEX) throw new RangeError(`lab index: must be 1-${MAX_LAB_INDEX}, got ${index}`);
  const bad = validateHostNames(hostNames);
  if (bad !== undefined) throw new RangeError(bad);
  const base = `${SUBNET_PREFIX}.${index}`;
  const prefix = labNetnsPrefix(index);
  return {
    index,
    name: `${LAB_PREFIX}-${index}`,
    subnet: `${base}.0/24`,
    rootAddress: `${base}.1`,
    rootLink: `${LAB_PREFIX}${index}`,
    switchNetns: `${prefix}sw`,
    hosts: hostNames.map((name, i) => ({ name, netns: `${prefix}${name}`, address: `${base}.${HOST_OFFSET + i}`, switchLink: `h${i + 1}` })),
  };
}

/** The host named `name`, or a RangeError listing the lab's hosts. */
export function hostOf(plan: LabPlan, name: string): HostPlan {
  const h = plan.hosts.find((x) => x.name === name);
  if (h === undefined) throw new RangeError(`no host ${JSON.stringify(name)} in ${plan.name} (hosts: ${plan.hosts.map((x) => x.name).join(", ")})`);
  return h;
}
