import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  MAX_DELAY_MS,
  MAX_READY_DELAY_MS,
  nextQuickDeaths,
  respawnDelay,
  STABLE_MS,
  standbyRetryDelay,
} from "../../src/master/backoff.ts";

describe("respawn backoff", () => {
  it("respawns a first death at once, then waits 100, 200, 400 … ms, never more than 10 s", () => {
    let deaths = 0;
    const delays: number[] = [];
    for (let i = 0; i < 12; i++) {
      deaths = nextQuickDeaths(deaths, 50);
      delays.push(respawnDelay(deaths));
    }
    assert.deepEqual(delays.slice(0, 6), [0, 100, 200, 400, 800, 1600]);
    assert.ok(delays.every((d) => d <= MAX_DELAY_MS));
    assert.equal(delays.at(-1), MAX_DELAY_MS);
  });

  it("a process that was ready when it died waits at most 1 s: capacity comes back quickly", () => {
    let deaths = 0;
    const delays: number[] = [];
    for (let i = 0; i < 12; i++) {
      deaths = nextQuickDeaths(deaths, 50);
      delays.push(respawnDelay(deaths, true));
    }
    assert.deepEqual(delays.slice(0, 6), [0, 100, 200, 400, 800, 1000]);
    assert.equal(Math.max(...delays), MAX_READY_DELAY_MS);
  });

  it("a process that lived STABLE_MS resets the count", () => {
    assert.equal(nextQuickDeaths(7, STABLE_MS), 1);
    assert.equal(respawnDelay(nextQuickDeaths(7, STABLE_MS)), 0);
    assert.equal(nextQuickDeaths(7, STABLE_MS - 1), 8);
  });
});

describe("standby backoff", () => {
  it("waits 1 s after a standby's first death in a row, then twice as long each time, never more than 30 s", () => {
    const delays = Array.from({ length: 8 }, (_, i) => standbyRetryDelay(i + 1));
    assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });
});
