/**
 * Slots, not counters: the master's table of what must run. A slot is a worker id (0..N-1) or
 * the privileged agent; the process filling it may die and be replaced any number of times, each
 * replacement the slot's next generation. A slot keeps its generation and restart count across
 * reloads.
 */
import type { ResolvedConfig } from "../config/index.ts";
import type { ChildSpec } from "../ipc/index.ts";
import type { Child } from "./children.ts";

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
  respawn: NodeJS.Timeout | null;
}

export const roleLabel = (role: Slot["role"]): string => (role === "worker" ? "worker" : "privileged agent");

/**
 * The slots of a (re)load: workers 0..N-1 and, when `init` (`agentConnections`) or the config
 * enables it, the agent.
 */
export function makeSlots(
  config: ResolvedConfig,
  agentConnections: number | null,
  previous: readonly Slot[],
): Slot[] {
  const slot = (role: Slot["role"], id: number | null, connections: number | null): Slot => {
    const old = previous.find((s) => s.role === role && s.id === id);
    return {
      role,
      id,
      connections,
      generation: old?.generation ?? 0,
      restarts: old?.restarts ?? 0,
      quickDeaths: 0,
      child: null,
      respawn: null,
    };
  };
  const slots = Array.from({ length: config.workers }, (_, id) => slot("worker", id, null));
  const connections = agentConnections ?? config.privilegedAgent?.connections ?? null;
  if (connections !== null) slots.push(slot("privileged agent", null, connections));
  return slots;
}

/** What the process for `slot` is told at fork (or when a standby assumes it). */
export function slotSpec(slot: Slot, config: ResolvedConfig, raw: unknown, appPath: string): ChildSpec {
  return {
    role: slot.role,
    workerId: slot.id,
    connections: slot.connections,
    workerCount: config.workers,
    generation: slot.generation,
    masterPid: process.pid,
    appPath,
    config: raw,
  };
}
