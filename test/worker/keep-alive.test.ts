// The keep-alive sweep's logic, with a clock of the test's own and sockets that only count bytes
// (test/e2e/http.test.ts runs the real thing over real connections).
import assert from "node:assert/strict";
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type Connection, Connections } from "../../src/worker/connections.ts";
import { until } from "../helpers/wait.ts";
import { keepAlive, KEEP_ALIVE_MARGIN_MS, sweep, sweepEveryMs } from "../../src/worker/keep-alive.ts";

interface FakeSocket {
  bytesRead: number;
  destroyed: boolean;
  destroy(): void;
  /** Bytes the socket still has to send (Node's), of which libuv queues `_handle.writeQueueSize`. */
  writableLength: number;
  _bytesDispatched: number;
  _handle: { writeQueueSize: number };
}

function fakeSocket(): FakeSocket {
  return {
    bytesRead: 0,
    destroyed: false,
    destroy() {
      this.destroyed = true;
    },
    writableLength: 0,
    _bytesDispatched: 0,
    _handle: { writeQueueSize: 0 },
  };
}

const inProgress = (): ServerResponse => new ServerResponse(new IncomingMessage(new Socket()));
/** A response that is over (connections.ts's `over`: sent in full, or cut). */
const done = inProgress().destroy();

const TIMEOUT = 5_000;
const LIMIT = TIMEOUT + KEEP_ALIVE_MARGIN_MS;
/** The keep-alive timeout alone. */
const IDLE = { keepAliveMs: TIMEOUT, sendMs: 0 };

/** Sweeps every `sweepEveryMs(TIMEOUT)` from `from` to `to` (ms); the time of each pass. */
function sweepFor(table: Connections, from: number, to: number): number[] {
  const passes: number[] = [];
  for (let now = from; now <= to; now += sweepEveryMs(IDLE)) {
    sweep(table, now, IDLE);
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
    sweep(table, LIMIT, IDLE);
    assert.equal(socket.destroyed, true, "closed at the limit");
  });

  it("counts bytes read since it was seen idle as activity: the limit runs from the last change", () => {
    const table = new Connections();
    const socket = fakeSocket();
    const connection = table.add(socket as unknown as Socket);
    connection.newest = done;
    sweep(table, 0, IDLE);
    socket.bytesRead += 3; // part of a next request's head
    sweep(table, 4_000, IDLE);
    sweep(table, 4_000 + LIMIT - 1, IDLE);
    assert.equal(socket.destroyed, false);
    sweep(table, 4_000 + LIMIT, IDLE);
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
    sweep(table, 3 * LIMIT + 1, IDLE);
    sweep(table, 4 * LIMIT, IDLE);
    const [first] = sockets as [FakeSocket];
    assert.equal(first.destroyed, false);
    sweep(table, 4 * LIMIT + 1, IDLE);
    assert.equal(first.destroyed, true);
  });

  it("runs only while there are connections: a pass that finds none ends it, the next connection starts it again", async () => {
    // Real timers (Node 20's mocked setInterval ignores a clearInterval made inside its callback);
    // a timeout of 200 ms sweeps every 100 ms, and the clock counts the passes (one read each).
    let passes = 0;
    const table = new Connections();
    const sweeper = keepAlive(table, { keepAliveMs: 200, sendMs: 0 }, undefined, () => ++passes);
    const waitPasses = async (ms: number): Promise<number> => {
      const before = passes;
      await sleep(ms);
      return passes - before;
    };
    const connection = table.add(fakeSocket() as unknown as Socket);
    assert.equal(await waitPasses(400), 0, "no pass before wake()");
    sweeper.wake();
    sweeper.wake(); // a second wake while it runs starts nothing more
    assert.ok(await until(() => passes >= 2), "passes once woken");
    table.delete(connection);
    assert.ok((await waitPasses(400)) <= 1, "the sweep ends with the last connection");
    assert.equal(await waitPasses(400), 0, "and stays ended");
    table.add(fakeSocket() as unknown as Socket);
    sweeper.wake();
    const restarted = passes;
    assert.ok(await until(() => passes >= restarted + 2), "passes again once woken again");
    sweeper.stop();
    sweeper.wake();
    assert.equal(await waitPasses(400), 0, "stop() ends it, and wake() after stop() starts nothing");
  });

  it("does not run when both timeouts are 0 (off, as in Node), and runs for either alone", async () => {
    let passes = 0;
    const table = new Connections();
    table.add(fakeSocket() as unknown as Socket);
    keepAlive(table, { keepAliveMs: 0, sendMs: 0 }, undefined, () => ++passes).wake();
    await sleep(400);
    assert.equal(passes, 0);
    const sendOnly = keepAlive(table, { keepAliveMs: 0, sendMs: 200 }, undefined, () => ++passes);
    sendOnly.wake();
    assert.ok(await until(() => passes >= 2), "a send timeout alone sweeps");
    sendOnly.stop();
  });

  it("runs an eighth of the shorter timeout apart, within 0.1–0.5 s", () => {
    const every = (keepAliveMs: number, sendMs = 0): number => sweepEveryMs({ keepAliveMs, sendMs });
    assert.equal(every(5_000), 500);
    assert.equal(every(1_000), 125);
    assert.equal(every(200), 100);
    assert.equal(every(65_000), 500);
    assert.equal(every(5_000, 1_000), 125);
    assert.equal(every(0, 1_600), 200);
  });
});

describe("the send timeout (nginx's send_timeout)", () => {
  const SEND = 2_000;
  const SENDING = { keepAliveMs: 0, sendMs: SEND };
  const EVERY = sweepEveryMs(SENDING);

  /** A connection answering a response whose next `waiting` bytes its client has not taken. */
  function sending(table: Connections, waiting: number): { socket: FakeSocket; connection: Connection } {
    const socket = fakeSocket();
    const connection = table.add(socket as unknown as Socket);
    connection.newest = inProgress();
    socket._bytesDispatched = 10_000;
    socket._handle.writeQueueSize = waiting;
    socket.writableLength = waiting;
    return { socket, connection };
  }

  it("closes a connection whose client took none of the bytes waiting for it for the timeout, not one pass sooner, and names it once", () => {
    const table = new Connections();
    const { socket, connection } = sending(table, 4_000);
    const stalled: Connection[] = [];
    for (let now = 0; now < SEND; now += EVERY) sweep(table, now, SENDING, (c) => stalled.push(c));
    assert.equal(socket.destroyed, false, "open until the limit");
    sweep(table, SEND, SENDING, (c) => stalled.push(c));
    assert.equal(socket.destroyed, true, "closed at the limit");
    sweep(table, SEND + EVERY, SENDING, (c) => stalled.push(c));
    assert.deepEqual(stalled, [connection], "named once");
  });

  it("keeps a connection whose client takes bytes, however few, and counts the limit from the last it took; the app's writing more is no progress", () => {
    const table = new Connections();
    const { socket } = sending(table, 4_000);
    // The client takes one byte a pass for three limits: the kernel's queue shrinks.
    let now = 0;
    for (; now <= 3 * SEND; now += EVERY) {
      sweep(table, now, SENDING);
      socket._handle.writeQueueSize -= 1;
    }
    assert.equal(socket.destroyed, false);
    // From here the app writes more each pass and the client takes nothing.
    const from = now;
    for (; now < from + SEND; now += EVERY) {
      sweep(table, now, SENDING);
      socket._bytesDispatched += 100;
      socket._handle.writeQueueSize += 100;
      socket.writableLength += 100;
    }
    assert.equal(socket.destroyed, false, "open until the limit from the last byte taken");
    sweep(table, from + SEND, SENDING);
    assert.equal(socket.destroyed, true);
  });

  it("times nothing while no byte waits, and leaves an upgraded connection to the app", () => {
    const table = new Connections();
    const { socket: idle } = sending(table, 0);
    const { socket: upgraded, connection } = sending(table, 4_000);
    connection.upgraded = true;
    for (let now = 0; now <= 3 * SEND; now += EVERY) sweep(table, now, SENDING);
    assert.deepEqual([idle.destroyed, upgraded.destroyed], [false, false]);
    // Bytes that wait after a quiet spell: the limit runs from the pass that first sees them.
    idle.writableLength = 10;
    idle._handle.writeQueueSize = 10;
    sweep(table, 3 * SEND + EVERY, SENDING);
    sweep(table, 4 * SEND, SENDING);
    assert.equal(idle.destroyed, false);
    sweep(table, 4 * SEND + EVERY, SENDING);
    assert.equal(idle.destroyed, true);
  });
});
