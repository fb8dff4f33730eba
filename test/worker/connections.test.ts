import assert from "node:assert/strict";
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import { describe, it } from "node:test";
import { Connections, live, queue } from "../../src/worker/connections.ts";

const response = (): ServerResponse => new ServerResponse(new IncomingMessage(new Socket()));

describe("a worker's table of open connections", () => {
  it("finds each connection from its socket, iterates the open ones and counts them", () => {
    const table = new Connections();
    const [a, b, c] = [new Socket(), new Socket(), new Socket()];
    const ca = table.add(a);
    const cb = table.add(b);
    assert.equal(table.of(a), ca);
    assert.equal(table.of(b), cb);
    assert.equal(table.of(c), undefined);
    assert.equal(ca.socket, a);
    assert.deepEqual(
      { newest: ca.newest, pipelined: ca.pipelined, upgraded: ca.upgraded },
      { newest: null, pipelined: null, upgraded: false },
    );
    assert.equal(table.size, 2);
    assert.deepEqual([...table], [ca, cb]);

    table.delete(ca);
    assert.equal(table.size, 1);
    assert.deepEqual([...table], [cb]);
    const cc = table.add(c);
    assert.equal(table.size, 2);
    assert.deepEqual(new Set(table), new Set([cb, cc]));
  });

  it("reuses the slots of closed connections, so the table stays as long as the most ever open at once", () => {
    const table = new Connections();
    for (let round = 0; round < 100; round++) {
      const open = [new Socket(), new Socket(), new Socket()].map((socket) => table.add(socket));
      for (const connection of open) table.delete(connection);
    }
    assert.equal(table.size, 0);
    assert.deepEqual([...table], []);
    // Three at once at most: a fourth takes a fourth slot, and iteration still sees all four.
    const open = [1, 2, 3, 4].map(() => table.add(new Socket()));
    assert.deepEqual(new Set(table), new Set(open));
  });

  it("lets go of what a closed connection noted; a second delete changes nothing", () => {
    const table = new Connections();
    const kept = table.add(new Socket());
    const closed = table.add(new Socket());
    closed.newest = response();
    closed.pipelined = [response(), response()];
    table.delete(closed);
    assert.equal(closed.newest, null);
    assert.equal(closed.pipelined, null);
    table.delete(closed);
    assert.equal(table.size, 1);
    assert.deepEqual([...table], [kept]);
    // The freed slot is taken once, not twice.
    const [x, y] = [table.add(new Socket()), table.add(new Socket())];
    assert.equal(table.size, 3);
    assert.deepEqual(new Set(table), new Set([kept, x, y]));
  });

  it("notes pipelined responses in order, forgets those over, and lists the live ones", () => {
    const connection = new Connections().add(new Socket());
    const [first, second, third, fourth] = [response(), response(), response(), response()];
    connection.newest = first;
    for (const res of [second, third]) {
      queue(connection, res);
      connection.newest = res;
    }
    assert.deepEqual(connection.pipelined, [first, second, third]);
    first.destroy();
    assert.deepEqual(live(connection), [second, third]);
    queue(connection, fourth);
    connection.newest = fourth;
    assert.deepEqual(connection.pipelined, [second, third, fourth]);
    assert.deepEqual(live(connection), [second, third, fourth]);
  });

  it("notes 100,000 pipelined requests of one connection in linear time (a client's flood costs no more per request)", () => {
    const connection = new Connections().add(new Socket());
    // A response in progress as over() sees it, without a socket and a request each.
    const pending = (): ServerResponse => Object.create(ServerResponse.prototype) as ServerResponse;
    connection.newest = pending();
    const started = performance.now();
    for (let i = 0; i < 100_000; i++) {
      const res = pending();
      queue(connection, res);
      connection.newest = res;
    }
    const ms = performance.now() - started;
    assert.equal(connection.pipelined?.length, 100_001);
    assert.equal(live(connection).length, 100_001);
    // Linear: a few ms. A search of the list per request took ~3 s.
    assert.ok(ms < 500, `${Math.round(ms)} ms`);
  });
});
