import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decide, type MasterInput, type MasterState, type StopMode } from "../../src/master/machine.ts";

describe("the master's state table", () => {
  const rows: [MasterState, StopMode | null, Record<MasterInput, string>][] = [
    ["starting", null, { reload: "queue reload", stop: "stop", fast: "fast", reopen: "reopen" }],
    ["running", null, { reload: "reload", stop: "stop", fast: "fast", reopen: "reopen" }],
    ["reloading", null, { reload: "queue reload", stop: "stop", fast: "fast", reopen: "reopen" }],
    ["stopping", "graceful", { reload: "ignore", stop: "ignore", fast: "escalate", reopen: "reopen" }],
    ["stopping", "fast", { reload: "ignore", stop: "ignore", fast: "ignore", reopen: "reopen" }],
  ];
  for (const [state, mode, actions] of rows) {
    it(`in ${state}${mode === null ? "" : ` (${mode})`}: ${JSON.stringify(actions)}`, () => {
      for (const input of Object.keys(actions) as MasterInput[]) {
        assert.equal(decide(state, mode, input), actions[input], `${state} + ${input}`);
      }
    });
  }
});
