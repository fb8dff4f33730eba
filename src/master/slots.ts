/**
 * Slots, not counters: the master's table of what must run. A slot is a worker id (0..N-1) or
 * the privileged agent; the process filling it may die and be replaced any number of times, each
 * replacement the slot's next generation. A slot keeps its restart count across reloads: a
 * reload's new slot takes the old one's count when it takes over (a process of the old cycle may
 * still die while the reload waits), and generations are numbered per slot over the master's life
 * (master.ts #nextGeneration), so no two processes of one slot share one, whichever cycle they
 * belong to.
 */
import type { ResolvedConfig } from "../config/index.ts";
import type { Account, ChildSpec } from "../ipc/index.ts";
import type { Child } from "./children.ts";
import { Zones, type ZoneSet } from "./zones.ts";

export interface Slot {
  readonly role: "worker" | "privileged agent";
  /** The worker id; null for the agent. */
  readonly id: number | null;
  /** The agent's connections; null for a worker. */
  readonly connections: number | null;
  generation: number;
  restarts: number;
  quickDeaths: number;
  child: Child | null;
  /** A respawn waiting out its backoff, and when it will run (epoch ms). */
  respawn: NodeJS.Timeout | null;
  respawnAt: number | null;
}

/** How log lines name a slot: `worker 1`, or `privileged agent` (which has no id). */
export const slotLabel = (slot: Pick<Slot, "role" | "id">): string =>
  slot.id === null ? slot.role : `${slot.role} ${slot.id}`;

/** The same slot in another cycle (the same worker id, or the agent). */
export const sameSlot = (a: Pick<Slot, "role" | "id">, b: Pick<Slot, "role" | "id">): boolean =>
  a.role === b.role && a.id === b.id;

/** How log lines name the process in a slot: `worker process 1234 (id 0)`. */
export function processLabel(slot: Pick<Slot, "role" | "id">, pid: number): string {
  return slot.role === "worker"
    ? `worker process${pidText(pid)} (id ${slot.id ?? "-"})`
    : `privileged agent process${pidText(pid)}`;
}

/** How log lines name a child: as its slot's process, or `worker process 1234` while it has none. */
export function childLabel(child: Child): string {
  if (child.spec === null) return `${child.kind} process${pidText(child.pid)}`;
  return processLabel({ role: child.spec.role, id: child.spec.workerId }, child.pid);
}

/** " 1234" after "process", nothing for a fork that failed (no pid: -1). */
export const pidText = (pid: number): string => (pid === -1 ? "" : ` ${pid}`);

/**
 * The slots of a (re)load: workers 0..N-1 and, when `init` (`agentConnections`) or the config
 * enables it, the agent.
 */
export function makeSlots(config: ResolvedConfig, agentConnections: number | null): Slot[] {
  const slot = (role: Slot["role"], id: number | null, connections: number | null): Slot => ({
    role,
    id,
    connections,
    generation: 0,
    restarts: 0,
    quickDeaths: 0,
    child: null,
    respawn: null,
    respawnAt: null,
  });
  const slots = Array.from({ length: config.workers }, (_, id) => slot("worker", id, null));
  const connections = agentConnections ?? config.privilegedAgent?.connections ?? null;
  if (connections !== null) slots.push(slot("privileged agent", null, connections));
  return slots;
}

/** What a cycle gives every child it starts (the slot adds who the child is). */
export interface CycleSpec {
  readonly cycle: number;
  readonly config: ResolvedConfig;
  readonly rawConfig: unknown;
  readonly appPath: string;
  readonly prefix: string;
  readonly initData: unknown;
  readonly account: Account | null;
  /** The cycle's shared-dictionary zones. */
  readonly zones: ZoneSet;
}

/** What the process for `slot` is told when it assumes its place. */
export function slotSpec(slot: Slot, cycle: CycleSpec): ChildSpec {
  return {
    role: slot.role,
    workerId: slot.id,
    connections: slot.connections,
    workerCount: cycle.config.workers,
    generation: slot.generation,
    cycle: cycle.cycle,
    masterPid: process.pid,
    appPath: cycle.appPath,
    prefix: cycle.prefix,
    config: cycle.rawConfig,
    initData: cycle.initData,
    // The privileged agent keeps the master's user, as nginx's does.
    account: slot.role === "worker" ? cycle.account : null,
    zones: Zones.refs(cycle.zones.zones),
  };
}
