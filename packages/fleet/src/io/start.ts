import { ControlServer } from "./control-server.ts";
import { Fleet, type FleetOptions } from "./fleet.ts";

/** A fleet plus (optionally) its control API, as `heck-fleet` runs it. */
export interface RunningFleet {
  fleet: Fleet;
  /** Present when `control` was given to {@link startFleet}. */
  control: ControlServer | undefined;
  /** Stops the control API, then the fleet. */
  close(): Promise<void>;
}

/**
 * Starts a fleet in this process, and its control API when `control` is
 * given (`{ host: "127.0.0.1", port: 0 }` picks a free port). The entry point
 * for other packages' tests, benchmarks and demos.
 */
export async function startFleet(options: FleetOptions & { control?: { host: string; port: number } }): Promise<RunningFleet> {
  const fleet = await Fleet.start(options);
  let control: ControlServer | undefined;
  if (options.control) {
    try {
      control = await ControlServer.start(fleet, options.control.host, options.control.port);
    } catch (err) {
      await fleet.close();
      throw err;
    }
  }
  return {
    fleet,
    control,
    async close() {
      await control?.close();
      await fleet.close();
    },
  };
}
