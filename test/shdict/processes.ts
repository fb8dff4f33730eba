import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { after } from "node:test";
import { fileURLToPath } from "node:url";
import type { Zone } from "../../src/shdict/index.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/shdict/", import.meta.url));
const live = new Set<ChildProcess>();
let registered = false;

export interface ZoneChild {
  readonly child: ChildProcess;
  /** JSON lines printed so far (non-JSON lines as strings). */
  readonly lines: unknown[];
  /** Resolves with the first printed line (now or later) that `match` accepts. */
  line(match: (line: unknown) => boolean): Promise<unknown>;
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/**
 * Runs a fixture of test/fixtures/shdict/ with the zone at fd 4 (as the master hands zones
 * to its children), under a hard deadline; every child is SIGKILLed in after() too. `wrapper`:
 * a command that execs its arguments (node and the fixture's), to run it as another user or in
 * other namespaces.
 */
export function startWithZone(
  fixture: string,
  zone: Zone | readonly Zone[],
  args: readonly string[] = [],
  deadlineMs = 30_000,
  wrapper: readonly string[] = [],
): ZoneChild {
  if (!registered) {
    registered = true;
    after(() => {
      for (const child of live) child.kill("SIGKILL");
    });
  }
  // Several zones: their specs as one JSON argument, zone i at fd 4 + i.
  const zones: readonly Zone[] = Array.isArray(zone) ? zone : [zone as Zone];
  const zoneArgs = Array.isArray(zone)
    ? [JSON.stringify(zones.map((z) => ({ name: z.name, size: z.size })))]
    : [zones[0]?.name ?? "", String(zones[0]?.size)];
  const [command = process.execPath, ...argv] = [
    ...wrapper,
    process.execPath,
    ...(fixture.endsWith(".mjs") ? [] : ["--import", "tsx"]),
    `${FIXTURES}${fixture}${fixture.endsWith(".mjs") ? "" : ".ts"}`,
    ...zoneArgs,
    ...args,
  ];
  const child = spawn(command, argv, {
    stdio: ["pipe", "pipe", "pipe", "ignore", ...zones.map((z) => z.fd)],
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  live.add(child);
  const lines: unknown[] = [];
  const waiters: { match: (line: unknown) => boolean; resolve: (line: unknown) => void }[] = [];
  let buffered = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      let line: unknown = text;
      try {
        line = JSON.parse(text);
      } catch {
        // a plain line
      }
      lines.push(line);
      for (const w of waiters.filter((x) => x.match(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const deadline = setTimeout(() => child.kill("SIGKILL"), deadlineMs);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve) => {
      child.on("close", (code, signal) => {
        clearTimeout(deadline);
        live.delete(child);
        for (const w of waiters.splice(0)) w.resolve(undefined);
        resolve({ code, signal, stderr });
      });
    },
  );
  return {
    child,
    lines,
    done,
    line: (match) => {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
  };
}

/** Runs an actor script to its end; returns each step's result, in order. */
export async function act(
  zone: Zone,
  steps: readonly (readonly unknown[])[],
  deadlineMs = 30_000,
): Promise<unknown[]> {
  const run = startWithZone("actor", zone, [JSON.stringify(steps)], deadlineMs);
  const end = await run.done;
  if (end.code !== 0) throw new Error(`actor exited with ${String(end.code ?? end.signal)}: ${end.stderr}`);
  return run.lines.map((line) => (line as { result: unknown }).result);
}

/**
 * Starts actors that each wait for a line, then lets them all go at once: the line tells them
 * a time a little ahead, which each waits for spinning ("startAt"), so that they start within a
 * millisecond or so of one another. Each script's steps follow the two steps of the start
 * ("sleep", "startAt").
 */
export async function startTogether(
  zone: Zone,
  scripts: readonly (readonly (readonly unknown[])[])[],
  deadlineMs = 60_000,
): Promise<ZoneChild[]> {
  const children = scripts.map((steps) =>
    startWithZone("actor", zone, [JSON.stringify([["sleep", 0], ["startAt"], ...steps])], deadlineMs),
  );
  // Each actor has booted (tsx) and waits for its line once its first step is printed: waited
  // for, as boots on a loaded machine can differ by more than the loops last.
  await within(Promise.all(children.map((c) => c.line(isStep("sleep")))), deadlineMs, "the actors booting");
  const at = Date.now() + 50;
  for (const child of children) child.child.stdin?.write(`${at}\n`);
  return children;
}

/** Every actor's step results after the boot's "sleep" ("startAt"'s first), once all have ended (each must exit 0). */
export async function resultsOf(children: readonly ZoneChild[], deadlineMs = 60_000): Promise<unknown[][]> {
  const ends = await within(Promise.all(children.map((c) => c.done)), deadlineMs, "the actors");
  for (const end of ends) assert.equal(end.code, 0, end.stderr);
  return children.map((c) => c.lines.slice(1).map((line) => (line as { result: unknown }).result));
}

/** A line predicate for `ZoneChild.line`: the line an actor printed for its step `step`. */
export const isStep =
  (step: string) =>
  (line: unknown): boolean =>
    typeof line === "object" && line !== null && (line as { step: unknown }).step === step;

/** The promise, or a rejection naming `what` after `ms` (a hung child is a failure, not a hang). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what}: nothing within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits until `child` is stopped (SIGSTOP: a crash point armed with crashAt(-n)), asserting
 * `what` if it is not within `ms`.
 */
export async function stoppedWithin(child: ZoneChild, ms: number, what: string): Promise<void> {
  const pid = child.child.pid ?? 0;
  const stopped = (): boolean => {
    try {
      return / T /.test(readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\)/, ""));
    } catch {
      return false;
    }
  };
  for (let waited = 0; !stopped(); waited += 20) {
    assert.ok(waited < ms, what);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
