// The keep-alive sweep's logic, with a clock of the test's own and sockets that only count bytes
// (test/e2e/http.test.ts runs the real thing over real connections).
import assert from "node:assert/strict";
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Connections } from "../../src/worker/connections.ts";
import { until } from "../helpers/wait.ts";
import { keepAlive, KEEP_ALIVE_MARGIN_MS, sweepEveryMs, sweepIdle } from "../../src/worker/keep-alive.ts";

interface FakeSocket {
  bytesRead: number;
  destroyed: boolean;
  destroy(): void;
}

function fakeSocket(): FakeSocket {
  return {
    bytesRead: 0,
    destroyed: false,
    destroy() {
      this.destroyed = true;
    },
  };
}

const inProgress = (): ServerResponse => new ServerResponse(new IncomingMessage(new Socket()));
/** A response that is over (connections.ts's `over`: sent in full, or cut). */
const done = inProgress().destroy();

const TIMEOUT = 5_000;
const LIMIT = TIMEOUT + KEEP_ALIVE_MARGIN_MS;

/** Sweeps every `sweepEveryMs(TIMEOUT)` from `from` to `to` (ms); the time of each pass. */
function sweepFor(table: Connections, from: number, to: number): number[] {
  const passes: number[] = [];
  for (let now = from; now <= to; now += sweepEveryMs(TIMEOUT)) {
    sweepIdle(table, now, TIMEOUT);
    passes.push(now);
  }
  return passes;
}

describe("the keep-alive sweep", () => {
  it("closes a connection idle since its last response after the timeout and Node's 1 s margin, not one pass sooner", () => {
    const table = new Connections();
    const socket = fakeSocket();
    const connection = table.add(socket as unknown as Socket);
    connection.newest = done;
    socket.bytesRead = 40;
    // The response ended at 0; the first pass to see it idle is at 0 at the soonest.
    sweepFor(table, 0, LIMIT - 1);
    assert.equal(socket.destroyed, false, "open until the limit");
    sweepIdle(table, LIMIT, TIMEOUT);
    assert.equal(socket.destroyed, true, "closed at the limit");
  });

  it("counts bytes read since it was seen idle as activity: the limit runs from the last change", () => {
    const table = new Connections();
    const socket = fakeSocket();
    const connection = table.add(socket as unknown as Socket);
    connection.newest = done;
    sweepIdle(table, 0, TIMEOUT);
    socket.bytesRead += 3; // part of a next request's head
    sweepIdle(table, 4_000, TIMEOUT);
    sweepIdle(table, 4_000 + LIMIT - 1, TIMEOUT);
    assert.equal(socket.destroyed, false);
    sweepIdle(table, 4_000 + LIMIT, TIMEOUT);
    assert.equal(socket.destroyed, true);
  });

  it("leaves alone a connection with a response in progress or queued, an upgraded one and one that has not sent a whole request", () => {
    const table = new Connections();
    const sockets = [fakeSocket(), fakeSocket(), fakeSocket(), fakeSocket()];
    const [answering, pipelining, upgraded, fresh] = sockets.map((s) => table.add(s as unknown as Socket));
    if (answering === undefined || pipelining === undefined || upgraded === undefined || fresh === undefined)
      throw new Error("four connections");
    answering.newest = inProgress();
    pipelining.newest = done;
    pipelining.pipelined = [done, inProgress()];
    upgraded.newest = done;
    upgraded.upgraded = true;
    // fresh.newest stays null: its first request is headersTimeout's, as in Node.
    sweepFor(table, 0, 3 * LIMIT);
    assert.deepEqual(
      sockets.map((s) => s.destroyed),
      [false, false, false, false],
    );
    // Once the response in progress is over, its connection's limit runs from the pass that sees it.
    answering.newest = done;
    sweepIdle(table, 3 * LIMIT + 1, TIMEOUT);
    sweepIdle(table, 4 * LIMIT, TIMEOUT);
    const [first] = sockets as [FakeSocket];
    assert.equal(first.destroyed, false);
    sweepIdle(table, 4 * LIMIT + 1, TIMEOUT);
    assert.equal(first.destroyed, true);
  });

  it("runs only while there are connections: a pass that finds none ends it, the next connection starts it again", async () => {
    // Real timers (Node 20's mocked setInterval ignores a clearInterval made inside its callback);
    // a timeout of 200 ms sweeps every 100 ms, and the clock counts the passes (one read each).
    let passes = 0;
    const table = new Connections();
    const sweep = keepAlive(table, 200, () => ++passes);
    const waitPasses = async (ms: number): Promise<number> => {
      const before = passes;
      await sleep(ms);
      return passes - before;
    };
    const connection = table.add(fakeSocket() as unknown as Socket);
    assert.equal(await waitPasses(400), 0, "no pass before wake()");
    sweep.wake();
    sweep.wake(); // a second wake while it runs starts nothing more
    assert.ok(await until(() => passes >= 2), "passes once woken");
    table.delete(connection);
    assert.ok((await waitPasses(400)) <= 1, "the sweep ends with the last connection");
    assert.equal(await waitPasses(400), 0, "and stays ended");
    table.add(fakeSocket() as unknown as Socket);
    sweep.wake();
    const restarted = passes;
    assert.ok(await until(() => passes >= restarted + 2), "passes again once woken again");
    sweep.stop();
    sweep.wake();
    assert.equal(await waitPasses(400), 0, "stop() ends it, and wake() after stop() starts nothing");
  });

  it("does not run for a timeout of 0 (off, as in Node)", async () => {
    let passes = 0;
    const table = new Connections();
    table.add(fakeSocket() as unknown as Socket);
    keepAlive(table, 0, () => ++passes).wake();
    await sleep(400);
    assert.equal(passes, 0);
  });

  it("runs an eighth of the timeout apart, within 0.1–0.5 s", () => {
    assert.equal(sweepEveryMs(5_000), 500);
    assert.equal(sweepEveryMs(1_000), 125);
    assert.equal(sweepEveryMs(200), 100);
    assert.equal(sweepEveryMs(65_000), 500);
  });
});
