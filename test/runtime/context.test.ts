import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { currentRuntime } from "../../src/runtime/context.ts";

describe("the runtime of plain Node (ngx imported without the CLI)", () => {
  it("T-PRE-08: signalGracefulExit takes effect once the calling code yields, not inside the call (stop 26)", async () => {
    const context = currentRuntime();
    const calls: boolean[] = [];
    context.timers.at(100, (premature) => calls.push(premature));
    context.requestGracefulExit();
    assert.equal(context.timers.exiting, false, "exiting() is still false right after the call");
    assert.deepEqual(calls, [], "no premature callback ran inside the call");
    context.timers.at(1, () => {}).cancel(); // a timer with a delay can still be made
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(context.timers.exiting, true);
    assert.deepEqual(calls, [true]);
    await context.timers.whenIdle();
  });
});
