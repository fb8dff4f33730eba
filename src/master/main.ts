/**
 * Runs a master in the foreground until it stops: signals first (so none is lost while the
 * master starts: see machine.ts), then the start, the ready line on stdout, and the wait for the
 * stop. A start that fails stops whatever it had started before it throws (StartError,
 * ConfigError, PathError), so no process is left behind.
 */
import { ShdictError, StartError } from "../errors.ts";
import { handleSignals } from "../process/index.ts";
import { errorMessage } from "../util/error-message.ts";
import { reportFaults } from "./faults.ts";
import { Cancelled, Master, type MasterOptions } from "./master.ts";

export type { MasterOptions } from "./master.ts";

/** What a master that was stopped while starting reports (the CLI exits 0 after it). */
export class StartCancelled extends Error {
  override name = "StartCancelled";
}

export async function runMaster(options: MasterOptions): Promise<void> {
  let master: Master;
  try {
    master = new Master(options);
  } catch (error) {
    throw startFailure(error);
  }
  // A terminal that went away (EPIPE) must not stop the master: nobody reads, the tree still serves.
  process.stdout.on("error", () => undefined);
  process.stderr.on("error", () => undefined);
  reportFaults(process, master.log);
  handleSignals({
    SIGHUP: () => {
      master.input("reload");
    },
    SIGQUIT: () => {
      master.input("stop");
    },
    SIGTERM: () => {
      master.term();
    },
    SIGINT: () => {
      master.input("fast");
    },
    SIGUSR1: () => {
      master.input("reopen");
    },
    SIGUSR2: () => undefined,
  });
  let ready: string;
  try {
    ready = await master.start();
  } catch (error) {
    // (a start cancelled by a stop is stopping already)
    master.stop("fast", `start failed: ${errorMessage(startFailure(error))}`);
    await master.stopped();
    if (error instanceof Cancelled) throw new StartCancelled("start cancelled: the master was told to stop");
    throw startFailure(error);
  }
  process.stdout.write(`${ready}\n`);
  await master.stopped();
}

/**
 * The addon not loading fails the start, said as one (the master listens and reaps through it,
 * app or no zone; as pid 1 it first needs it to listen, inside start).
 */
function startFailure(error: unknown): unknown {
  return error instanceof ShdictError ? new StartError(error.message, { cause: error }) : error;
}
