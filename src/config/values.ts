import { availableParallelism } from "node:os";
import { describe } from "../errors.ts";
import type { ListenAddress } from "./types.ts";

/**
 * Parsers shared by the config file and the command line. Each returns the value, or a
 * problem sentence ("must be …, received …") for the caller to attach to a key or a flag.
 */
export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

const MAX_WORKERS = 1024;

export function parseWorkers(value: unknown): Parsed<number> {
  if (value === "auto") return { ok: true, value: availableParallelism() };
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= MAX_WORKERS)
    return { ok: true, value: n };
  return {
    ok: false,
    problem: `must be "auto" or an integer from 1 to ${MAX_WORKERS}, received ${describe(value)}`,
  };
}

const LISTEN = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d{1,5})$/;

export function parseListen(value: unknown): Parsed<ListenAddress> {
  const text = typeof value === "number" ? String(value) : value;
  const match = typeof text === "string" ? LISTEN.exec(text) : null;
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || !(port >= 0 && port <= 65535)) {
    return {
      ok: false,
      problem: `must be [HOST:]PORT with a port from 0 to 65535, received ${describe(value)}`,
    };
  }
  const host = match[1] === undefined ? null : match[1].replace(/^\[(.*)\]$/, "$1");
  return { ok: true, value: Object.freeze({ host, port }) };
}

/** Shows an address the way a user writes it: `127.0.0.1:8080`, `[::1]:8080`, `*:8080`. */
export function formatListen(address: ListenAddress): string {
  if (address.host === null) return `*:${address.port}`;
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

const NAME = /^[a-z_][a-z0-9_.-]*\$?$/i;

export function parseUser(value: unknown): Parsed<{ user: string; group: string | null }> {
  if (typeof value === "string") {
    const [user = "", group, extra] = value.split(":");
    if (extra === undefined && NAME.test(user) && (group === undefined || NAME.test(group))) {
      return { ok: true, value: Object.freeze({ user, group: group ?? null }) };
    }
  }
  return { ok: false, problem: `must be "user" or "user:group", received ${describe(value)}` };
}
