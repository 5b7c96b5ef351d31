/**
 * Where the members of a local cluster run: every stage's `cluster up`
 * starts its processes through a Placement, so the same command puts them
 * all on loopback (ports tell them apart) or, with `--netns`, each on a lab
 * host of its own (its own address; the kernel's faults between them).
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { NetLab, type NetLabOptions } from "./lab.ts";

/** Where members run and how they are started. */
export interface Placement {
  /** "loopback", or the lab's name (`hecklab-<k>`). */
  readonly name: string;
  /** The lab, when members run on lab hosts. */
  readonly lab: NetLab | null;
  /** The address member `id` binds (and others reach it at). */
  addressOf(id: string): string;
  /** The namespace member `id` runs in (for `ip netns exec`), or null on loopback. */
  netnsOf(id: string): string | null;
  /** Where a server in this namespace (a fleet of origins, etcd) listens so members reach it. */
  readonly rootAddress: string;
  /** Starts member `id`'s process; its pid is the process's own. */
  spawn(id: string, command: string, args: readonly string[], options: SpawnOptions): ChildProcess;
  /** Makes room for a member that was not in the first list (a lab adds a host). */
  add(id: string): Promise<void>;
  /** Tears down what the placement built (the lab), after the caller has stopped its processes. */
  close(): Promise<void>;
}

/** Every member on one host, `host` (default 127.0.0.1). */
export function loopbackPlacement(host = "127.0.0.1"): Placement {
  return {
    name: "loopback",
    lab: null,
    addressOf: () => host,
    netnsOf: () => null,
    rootAddress: host,
    spawn: (_id, command, args, options) => spawn(command, [...args], options),
    add: async () => undefined,
    close: async () => undefined,
  };
}

/** Each member on a lab host named after it (ids must be valid host names: a lowercase letter, then letters or digits). */
export async function labPlacement(ids: readonly string[], options: Omit<NetLabOptions, "hosts"> = {}): Promise<Placement> {
  const lab = await NetLab.create({ ...options, hosts: ids });
  return {
    name: lab.name,
    lab,
    addressOf: (id) => lab.host(id).address,
    netnsOf: (id) => lab.host(id).netns,
    rootAddress: lab.rootAddress,
    spawn: (id, command, args, opts) => lab.spawn(id, command, args, opts),
    add: async (id) => {
      if (!lab.hosts.some((h) => h.name === id)) await lab.addHost(id);
    },
    close: () => lab.destroy(),
  };
}

/**
 * The two fields every cluster command's `--json` line has per node: the
 * namespace (usable with `ip netns exec`; null on loopback) and the host's
 * address.
 */
export function netnsFields(p: Placement, id: string): { netns: string | null; host: string } {
  return { netns: p.netnsOf(id), host: p.addressOf(id) };
}
