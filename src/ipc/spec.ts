/**
 * What the master tells a child at fork, in the environment variable TSRESTY_CHILD. The
 * config travels as the user wrote it (file merged with flags); the child resolves it again.
 */
export interface ChildSpec {
  readonly role: "worker" | "privileged agent";
  readonly workerId: number | null;
  readonly workerCount: number;
  readonly generation: number;
  readonly masterPid: number;
  /** Absolute path of the app module. */
  readonly appPath: string;
  readonly config: unknown;
  /** For the privileged agent: how many timer callbacks it may run at once. */
  readonly connections: number | null;
}

export const CHILD_SPEC_ENV = "TSRESTY_CHILD";

/**
 * The value of TSRESTY_CHILD for a standby: a child that boots Node, the TypeScript loader and
 * tsresty's runtime ahead of need, then waits for the master to give it a spec ("assume").
 */
export const STANDBY = "standby";

export function encodeChildSpec(spec: ChildSpec): string {
  return JSON.stringify(spec);
}

/** Reads the spec a child was started with; throws when the process was not forked by a master. */
export function decodeChildSpec(text: string | undefined): ChildSpec {
  if (text === undefined)
    throw new Error(`${CHILD_SPEC_ENV} is not set: this entry is started by the tsresty master`);
  return checkChildSpec(JSON.parse(text));
}

/** Checks a spec received from the master (in the environment or in an "assume" message). */
export function checkChildSpec(value: unknown): ChildSpec {
  if (typeof value !== "object" || value === null) throw new Error(`${CHILD_SPEC_ENV}: not a spec`);
  const spec = value as Record<string, unknown>;
  if (spec["role"] !== "worker" && spec["role"] !== "privileged agent") {
    throw new Error(`${CHILD_SPEC_ENV}: bad role`);
  }
  return Object.freeze(spec as unknown as ChildSpec);
}
