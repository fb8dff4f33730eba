import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeRunning, drainCutMessage } from "../../src/runtime/drain-cut.ts";
import { makeTimers, RecordingGate } from "../helpers/timer-system.ts";

describe("the warning when shutdownTimeout cuts a drain", () => {
  it("says how many premature calls never ran because they waited for a running slot (stop 26)", () => {
    const { timers, clock } = makeTimers({ maxRunning: 1 });
    timers.at(0, () => new Promise(() => {})); // holds the only slot for ever
    timers.at(100, () => {});
    timers.every({ interval: 5, overlap: false }, () => {});
    clock.advance(0);
    timers.beginExit();
    assert.equal(
      drainCutMessage(1, timers, "exiting"),
      "shutdownTimeout (1 s) reached while draining, with 1 timers running; 2 premature calls never ran (they waited for a running slot); exiting",
    );
  });

  it("names only the running callbacks when no premature call waits (stop 26)", () => {
    const { timers, clock } = makeTimers({ maxRunning: 1 });
    timers.at(0, () => new Promise(() => {}));
    clock.advance(0);
    timers.beginExit();
    assert.equal(
      drainCutMessage(0.3, timers, "going on to exitWorker"),
      "shutdownTimeout (0.3 s) reached while draining, with 1 timers running; going on to exitWorker",
    );
  });

  it("in a worker, names the HTTP requests in flight and the upgraded connections open, which are cut next", () => {
    const { timers } = makeTimers();
    timers.beginExit();
    // Before: "with 0 timers running; going on to exitWorker": nothing said what held the drain.
    assert.equal(
      drainCutMessage(3, timers, "going on to exitWorker", { requests: 12, inFlight: 3, upgraded: 1 }),
      "shutdownTimeout (3 s) reached while draining, with 0 timers running, 3 HTTP requests in flight and 1 upgraded connections open (cut); going on to exitWorker",
    );
  });

  it("tells a premature call owed to an overlap: false timer whose run never ended from one that waited for a slot, and counts singleton claims unanswered", () => {
    const gate = new RecordingGate();
    const { timers, clock } = makeTimers({ gates: { cluster: gate } });
    timers.every({ interval: 1, name: "stuck", overlap: false }, () => new Promise(() => {}));
    clock.advance(1000); // its run goes on for ever: its premature call is owed until it ends
    gate.answer = () => new Promise(() => {}); // a coordinator that never answers
    timers.every({ interval: 1, name: "remote", singleton: "cluster" }, () => {});
    clock.advance(1000);
    timers.beginExit();
    // Before: "with 1 timers running; 1 premature calls never ran (they waited for a running
    // slot)": no slot was wanting, and the claim the drain waited for was not named.
    assert.equal(
      drainCutMessage(2, timers, "exiting"),
      'shutdownTimeout (2 s) reached while draining, with 1 timers running (timer "stuck"); 1 premature calls never ran (their overlap: false timer\'s run never ended); 1 singleton claims unanswered; exiting',
    );
  });

  it("names the named timers still running, five at most, the rest counted (it gave only their number)", () => {
    const { timers, clock } = makeTimers();
    for (const name of ["a", "b", "c", "d", "e", "f", "g"])
      timers.at({ delay: 0, name }, () => new Promise(() => {}));
    timers.at(0, () => new Promise(() => {}));
    clock.advance(0);
    timers.beginExit();
    assert.equal(
      drainCutMessage(1, timers, "exiting"),
      'shutdownTimeout (1 s) reached while draining, with 8 timers running (timer "a", timer "b", timer "c", timer "d", timer "e" and 2 more); exiting',
    );
  });
});

describe("describeRunning", () => {
  it("names the running timers, then counts the unnamed ones; past atMost, counts the rest", () => {
    const named = ['timer "a"', 'timer "b"', 'timer "c"'];
    assert.equal(describeRunning({ named: [], unnamed: 0 }), "");
    assert.equal(describeRunning({ named: [], unnamed: 1 }), "1 unnamed timer");
    assert.equal(describeRunning({ named, unnamed: 2 }), 'timer "a", timer "b", timer "c", 2 unnamed timers');
    assert.equal(describeRunning({ named, unnamed: 0 }, 2), 'timer "a", timer "b" and 1 more');
    assert.equal(describeRunning({ named, unnamed: 0 }, 3), 'timer "a", timer "b", timer "c"');
  });
});
