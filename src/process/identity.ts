/**
 * The kinds of process tsresty runs, named as OpenResty names them.
 * @example
 * const type: ProcessType = ngx.process.type(); // "worker"
 */
export type ProcessType = "single" | "master" | "worker" | "privileged agent";

/** Who this process is. Fixed for the life of the process. */
export interface Identity {
  readonly type: ProcessType;
  /** 0..count-1 in workers, 0 in single mode, null in the master and the agent. */
  readonly workerId: number | null;
  readonly workerCount: number;
  readonly masterPid: number;
}

/** The identity of a `tsresty -e` / `tsresty FILE` process (and of plain Node importing tsresty). */
export function singleIdentity(pid = process.pid): Identity {
  return Object.freeze({ type: "single", workerId: 0, workerCount: 1, masterPid: pid });
}
