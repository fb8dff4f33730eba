/**
 * What the master tells a child it forked: who it is and what it runs. Every child boots blank
 * and receives its spec in an "assume" message (a standby boots ahead of need and receives it
 * later), so nothing of tsresty's travels in the environment that `ngx.pipe` children inherit.
 */
export interface ChildSpec {
  readonly role: "worker" | "privileged agent";
  readonly workerId: number | null;
  readonly workerCount: number;
  /** The slot's generation: how many processes have filled this slot so far. */
  readonly generation: number;
  /** The config cycle: 1 at start, +1 per successful reload. */
  readonly cycle: number;
  readonly masterPid: number;
  /** Absolute path of the app module. */
  readonly appPath: string;
  /** Absolute path of the prefix (pid file, control socket). */
  readonly prefix: string;
  /** The config as the init process loaded it (file merged with flags); the child resolves it again. */
  readonly config: unknown;
  /** For the privileged agent: how many timer callbacks it may run at once. */
  readonly connections: number | null;
  /** What this cycle's `init` returned (ngx.process.initData()). */
  readonly initData: unknown;
  /** Workers of a root master drop to this account before loading the app; null keeps the user. */
  readonly account: Account | null;
  /** The shared-dictionary zones of this cycle (mapped before the worker drops privileges). */
  readonly zones: readonly ZoneRef[];
}

/** A zone as the master holds it: the child maps it from /proc/<master>/fd/<fd>. */
export interface ZoneRef {
  readonly name: string;
  readonly size: number;
  readonly fd: number;
  /** The addon file the master made the zone with; the child maps it with the same. */
  readonly addon: string;
}

/** Checks a list of zone references from the master. */
export function checkZoneRefs(value: unknown): readonly ZoneRef[] {
  if (!Array.isArray(value)) throw new Error("spec.zones: not a list");
  return Object.freeze(
    value.map((item: unknown) => {
      if (!isRecord(item)) throw new Error("spec.zones: not a zone");
      const { name, size, fd, addon } = item;
      if (typeof name !== "string" || !isInteger(size) || !isInteger(fd) || typeof addon !== "string")
        throw new Error("spec.zones: bad zone");
      return Object.freeze({ name, size, fd, addon });
    }),
  );
}

/** A user to run as, resolved by the master (children never look users up themselves). */
export interface Account {
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  /** The user's home directory (from /etc/passwd); null when only NSS knows the user. */
  readonly home: string | null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

const isInteger = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value);
const isIdOrNull = (value: unknown): boolean => value === null || isInteger(value);

function checkAccount(value: unknown): Account | null {
  if (value === null) return null;
  if (!isRecord(value)) throw new Error("spec.account: not an account");
  const { user, uid, gid, home } = value;
  if (
    typeof user !== "string" ||
    !isInteger(uid) ||
    !isInteger(gid) ||
    (home !== null && typeof home !== "string")
  )
    throw new Error("spec.account: bad fields");
  return Object.freeze({ user, uid, gid, home });
}

/** Checks a spec received from the master; throws naming the first bad field. */
export function checkChildSpec(value: unknown): ChildSpec {
  if (!isRecord(value)) throw new Error("spec: not an object");
  const spec = value;
  if (spec["role"] !== "worker" && spec["role"] !== "privileged agent")
    throw new Error("spec.role: bad role");
  for (const key of ["workerCount", "generation", "cycle", "masterPid"]) {
    if (!isInteger(spec[key])) throw new Error(`spec.${key}: not an integer`);
  }
  if (!isIdOrNull(spec["workerId"]) || !isIdOrNull(spec["connections"])) throw new Error("spec: bad id");
  if (typeof spec["appPath"] !== "string" || typeof spec["prefix"] !== "string") {
    throw new Error("spec: bad paths");
  }
  return Object.freeze({
    ...(spec as unknown as ChildSpec),
    account: checkAccount(spec["account"] ?? null),
    zones: checkZoneRefs(spec["zones"] ?? []),
  });
}
