/**
 * The host gate (`singleton: "host"`): claims in tsresty's own zone, the last run on disk for
 * catchUp. Real shared memory (the zone is made in this process, as single mode makes it).
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { resolveConfig } from "../../src/config/index.ts";
import { singleIdentity } from "../../src/process/index.ts";
import { createGates } from "../../src/runtime/gates.ts";
import { scratchDir } from "../helpers/scratch.ts";

const noLog = (): void => undefined;

/** The host gate of a process with this pid, under `prefix`. */
function hostGate(prefix: string, pid = process.pid): NonNullable<ReturnType<typeof createGates>["host"]> {
  const gate = createGates(resolveConfig({}), singleIdentity(pid), prefix, noLog).host;
  assert.ok(gate !== undefined);
  return gate;
}

describe("the host gate", () => {
  it("a claim is never evicted to make room for others: when the zone is full, new claims fail instead", () => {
    const prefix = scratchDir("host-gate");
    const a = hostGate(prefix, 1001);
    const b = hostGate(prefix, 1002);
    const due = Date.now();
    assert.equal(a.claim("job", due, 100), true);
    // Fill the 1 MiB zone with other claims (unexpired for a minute) until it is full.
    const name = "n".repeat(2000);
    let claimed = 0;
    let full: unknown = null;
    for (let tick = 1; tick < 10_000 && full === null; tick++) {
      try {
        if (a.claim(name, due + tick * 100, 100)) claimed++;
      } catch (error) {
        full = error;
      }
    }
    assert.ok(claimed > 100, `${claimed} claims before the zone was full`);
    assert.match(String(full), /cannot claim a tick in the shared dictionary __tsresty: no memory/);
    // Before: the first claim was evicted (least recently used) to make room, and a process that
    // woke late won the same tick again.
    assert.equal(b.claim("job", due, 100), false, "the tick is still taken");
  });

  it("catchUp keeps the last run of a name too long for a file name under the name's hash", () => {
    const prefix = scratchDir("host-gate-long");
    const gate = hostGate(prefix);
    const name = `long-${"n".repeat(300)}`;
    assert.equal(gate.lastRun?.(name), null); // asks for the record: catchUp
    // Before: ENAMETOOLONG at every tick (logged), and nothing kept across a stop.
    gate.settled?.(name, 1_700_000_000_000, true);
    const [file] = readdirSync(join(prefix, "timers"));
    assert.match(file ?? "", /^sha256-[0-9a-f]{64}\.last$/);
    const fresh = hostGate(prefix);
    assert.equal(fresh.lastRun?.(name), 1_700_000_000_000);
  });
});
