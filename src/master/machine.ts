/**
 * The master's states and what each input does in each of them, as one table. Every operation
 * that awaits (a start, a reload) checks the state again after each await: a stop that arrived
 * meanwhile aborts it (its AbortSignal fires) instead of being overtaken by it.
 *
 *   input \ state   starting       running       reloading      stopping (graceful)  stopping (fast)
 *   reload (HUP)    queue          reload        queue one more ignore               ignore
 *   stop (QUIT)     abort, stop    stop          abort, stop    ignore               ignore
 *   fast (INT)      abort, fast    fast          abort, fast    escalate to fast     ignore
 *   reopen (USR1)   reopen         reopen        reopen         reopen               reopen
 *
 * TERM is "stop" or "fast" as the config's `signals.term` says (graceful by default).
 * "abort" cancels the start or reload in progress: its init process is killed, the children it
 * forked are stopped, and nothing of it is logged as done. Queued reloads run once the master is
 * running; several queued reloads are one, and each `tsresty reload` that asked for it is answered
 * with how that one reload ended (a stop before it runs answers them that it did not run).
 */
export type MasterState = "starting" | "running" | "reloading" | "stopping";
export type StopMode = "graceful" | "fast";
export type MasterInput = "reload" | "stop" | "fast" | "reopen";
export type MasterAction = "reload" | "queue reload" | "stop" | "fast" | "escalate" | "reopen" | "ignore";

export function decide(state: MasterState, stopMode: StopMode | null, input: MasterInput): MasterAction {
  if (input === "reopen") return "reopen";
  switch (state) {
    case "starting":
      return input === "reload" ? "queue reload" : input;
    case "running":
      return input;
    case "reloading":
      return input === "reload" ? "queue reload" : input;
    case "stopping":
      return input === "fast" && stopMode === "graceful" ? "escalate" : "ignore";
  }
}
