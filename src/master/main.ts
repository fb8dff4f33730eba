/**
 * Runs a master in the foreground until it stops: signals first (so none is lost while the
 * master starts: see machine.ts), then the start, the ready line on stdout, and the wait for the
 * stop. A start that fails stops whatever it had started before it throws (StartError,
 * ConfigError, PathError), so no process is left behind.
 */
import { handleSignals } from "../process/index.ts";
import { formatThrown } from "../util/log.ts";
import { Cancelled, Master, type MasterOptions } from "./master.ts";

export type { MasterOptions } from "./master.ts";

/** What a master that was stopped while starting reports (the CLI exits 0 after it). */
export class StartCancelled extends Error {
  override name = "StartCancelled";
}

export async function runMaster(options: MasterOptions): Promise<void> {
  const master = new Master(options);
  // A terminal that went away (EPIPE) must not stop the master: nobody reads, the tree still serves.
  process.stdout.on("error", () => undefined);
  process.stderr.on("error", () => undefined);
  // The master runs no user code; an error here is tsresty's, and it must not take the tree down.
  let reporting = false;
  const report = (what: string, error: unknown): void => {
    if (reporting) return; // a failing log write must not loop back here
    reporting = true;
    try {
      master.log("alert", `master: ${what}, the tree keeps running: ${formatThrown(error)}`);
    } finally {
      reporting = false;
    }
  };
  process.on("uncaughtException", (error) => {
    report("uncaught exception", error);
  });
  process.on("unhandledRejection", (reason) => {
    report("unhandled rejection", reason);
  });
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
    master.stop("fast", true);
    await master.stopped();
    if (error instanceof Cancelled) throw new StartCancelled("start cancelled: the master was told to stop");
    throw error;
  }
  process.stdout.write(`${ready}\n`);
  await master.stopped();
}
