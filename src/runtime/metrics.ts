/**
 * What a child measures of itself for the master's `/metrics`, beside its status: event-loop
 * delay (util/loop-delay.ts), live subprocess groups, and what its service counts (a worker's
 * HTTP requests).
 */
import type { ChildProbe } from "../ipc/index.ts";
import { liveGroups } from "../pipe/index.ts";
import { LoopDelay } from "../util/loop-delay.ts";

/** What a service counts for the metrics (a worker's HTTP). */
export interface ServiceCounts {
  readonly requests: number;
  readonly inFlight: number;
  /** Connections handed to the app's `upgrade` and still open (not in the metrics). */
  readonly upgraded: number;
}

export class ChildProbes {
  readonly #delay = new LoopDelay();

  /** The figures now; `http` is what the service counted (null when it serves no HTTP). */
  read(http: ServiceCounts | null): ChildProbe {
    return {
      lag: this.#delay.read(),
      pipes: liveGroups().length,
      http: http === null ? null : { requests: http.requests, inFlight: http.inFlight },
    };
  }
}
