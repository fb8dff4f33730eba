import { availableParallelism } from "node:os";
import { describe } from "../errors.ts";
import { ZONE_MAX_SIZE, ZONE_MIN_SIZE, ZONE_NAME } from "../util/zone-spec.ts";
import type { ListenAddress } from "./types.ts";

/**
 * Parsers shared by the config file and the command line. Each returns the value, or a
 * problem sentence ("must be …, received …") for the caller to attach to a key or a flag.
 */
export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

const MAX_WORKERS = 1024;

export function parseWorkers(value: unknown, text = true): Parsed<number> {
  if (value === "auto") return { ok: true, value: availableParallelism() };
  // A string of digits is the command line's form (`text`); a config's number is a number.
  const n = text && typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= MAX_WORKERS)
    return { ok: true, value: n };
  return {
    ok: false,
    problem: `must be "auto" or an integer from 1 to ${MAX_WORKERS}, received ${describe(value)}`,
  };
}

/** A host is a bracketed IPv6 address, or a name or IPv4 address without spaces or control characters. */
const LISTEN = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]\s\p{Cc}]+):)?(\d{1,5})$/u;

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

const SIZE = /^(\d+)([kmg]?)$/i;
const UNITS: Readonly<Record<string, number>> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * A size as nginx writes it: bytes as a number or a string, or a string with a k, m or g
 * suffix (case-insensitive): `16384`, `"12k"`, `"10m"`, `"1g"`. From 8k to 2g.
 */
export function parseSize(value: unknown): Parsed<number> {
  const match = typeof value === "string" ? SIZE.exec(value.trim()) : null;
  const bytes =
    typeof value === "number"
      ? value
      : match === null
        ? NaN
        : Number(match[1]) * (UNITS[(match[2] ?? "").toLowerCase()] ?? NaN);
  if (Number.isInteger(bytes) && bytes >= ZONE_MIN_SIZE && bytes <= ZONE_MAX_SIZE)
    return { ok: true, value: bytes };
  return {
    ok: false,
    problem: `must be a size from 8k to 2g (bytes, or a number with a k, m or g suffix), received ${describe(value)}`,
  };
}

/** A zone name usable as `ngx.shared.NAME`: a letter or _, then letters, digits, _; 63 at most. */
export function parseZoneName(value: unknown): Parsed<string> {
  if (typeof value === "string" && value.startsWith("__")) {
    return { ok: false, problem: `names starting with __ are tsresty's own, received ${describe(value)}` };
  }
  if (typeof value === "string" && ZONE_NAME.test(value)) return { ok: true, value };

  return {
    ok: false,
    problem: `names must be letters, digits and _, not starting with a digit, 63 characters at most, received ${describe(value)}`,
  };
}

/**
 * The `--shdict` flags (`'dogs 10m'`, as resty's), into the config's `shdict` object. A name
 * given twice is refused, as nginx refuses a second `lua_shared_dict` of one name.
 */
export function parseShdictFlags(flags: readonly string[]): Parsed<Record<string, number>> {
  const zones: Record<string, number> = {};
  for (const flag of flags) {
    const [name = "", size, extra] = flag.trim().split(/\s+/);
    if (name === "" || size === undefined || extra !== undefined) {
      return { ok: false, problem: `must be 'NAME SIZE' (e.g. 'dogs 10m'), received ${describe(flag)}` };
    }
    const parsedName = parseZoneName(name);
    if (!parsedName.ok) return parsedName;
    if (Object.hasOwn(zones, name))
      return { ok: false, problem: `names "${name}" twice: it is already defined` };
    const parsedSize = parseSize(size);
    if (!parsedSize.ok) return { ok: false, problem: `${name}: size ${parsedSize.problem}` };
    zones[name] = parsedSize.value;
  }
  return { ok: true, value: zones };
}

/** Whether `text` percent-decodes: no "%" that does not start an escape (%25 is "%"). */
function percentDecodes(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * A Redis URL: `redis://[user:pass@]host[:port][/db]` or `rediss://…`, as ioredis reads it: no
 * spaces around it (URL trims them, ioredis does not, and failed every claim with "Invalid URL"),
 * and no query, which ioredis reads as options over those tsresty gives it (a string
 * `commandTimeout` turned the claims' 5 s bound off; `enableOfflineQueue`, `keyPrefix` …). Its
 * user and password are percent-decoded by ioredis: one that does not decode (a bare `%`) failed
 * every claim with "URI malformed".
 */
export function parseRedisUrl(value: unknown): Parsed<string> {
  const bad: Parsed<string> = {
    ok: false,
    problem: `must be a Redis URL (redis://host:6379/0 or rediss://…), received ${describe(value)}`,
  };
  if (typeof value !== "string" || value.trim() !== value) return bad;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return bad;
  }
  if ((url.protocol !== "redis:" && url.protocol !== "rediss:") || url.hostname === "") return bad;
  if (url.search !== "") {
    return {
      ok: false,
      problem: `must be a Redis URL without a query (?…): ioredis would read it as options over tsresty's, received ${describe(value)}`,
    };
  }
  // URL drops a default port and refuses one above 65535; 0 is left, and is no server's.
  if (url.port === "0") {
    return {
      ok: false,
      problem: `must name a port from 1 to 65535 (redis://host:6379), received ${describe(value)}`,
    };
  }
  for (const [part, text] of [
    ["user", url.username],
    ["password", url.password],
  ] as const) {
    if (percentDecodes(text)) continue;
    return {
      ok: false,
      problem: `must be a Redis URL whose ${part} percent-decodes: a "%" must start an escape such as %25 (which stands for "%"), received ${describe(value)}`,
    };
  }
  if (url.pathname !== "" && url.pathname !== "/" && !/^\/\d{1,2}$/.test(url.pathname)) {
    return {
      ok: false,
      problem: `must name a database number after the host (redis://host:6379/0), received ${describe(value)}`,
    };
  }
  return { ok: true, value };
}
