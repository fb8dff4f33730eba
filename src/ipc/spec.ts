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
}

export const CHILD_SPEC_ENV = "TSRESTY_CHILD";

export function encodeChildSpec(spec: ChildSpec): string {
  return JSON.stringify(spec);
}

/** Reads the spec a child was started with; throws when the process was not forked by a master. */
export function decodeChildSpec(text: string | undefined): ChildSpec {
  if (text === undefined)
    throw new Error(`${CHILD_SPEC_ENV} is not set: this entry is started by the tsresty master`);
  const spec = JSON.parse(text) as Record<string, unknown>;
  if (spec["role"] !== "worker" && spec["role"] !== "privileged agent") {
    throw new Error(`${CHILD_SPEC_ENV}: bad role`);
  }
  return Object.freeze(spec as unknown as ChildSpec);
}
