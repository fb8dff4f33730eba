import assert from "node:assert/strict";
import { createConnection, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CONTROL_SOCKET, type ControlResponse } from "../../src/ipc/index.ts";
import {
  FOLLOW_BACKLOG_BYTES,
  serveControl,
  type ControlHandler,
  type ControlServer,
} from "../../src/master/control.ts";
import { sendControl, talkToMaster } from "../../src/master/control-client.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { until } from "../helpers/wait.ts";

const servers: ControlServer[] = [];
const sockets: Socket[] = [];
after(() => {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) server.close();
});

/** A control server on a fresh socket whose idle clients are dropped after `idleMs`. */
async function serve(idleMs: number): Promise<string> {
  const path = join(scratchDir("control"), "c.sock");
  servers.push(
    await serveControl(
      path,
      (request, connection) => {
        if (request.command !== "logs") return Promise.resolve({ ok: true, message: request.command });
        connection.send({ ok: true, message: "following" });
        return Promise.resolve(null); // held open, as `tsresty logs -f`
      },
      idleMs,
    ),
  );
  return path;
}

/**
 * Connects, writes `text` (then shuts the sending half, with `halfClose`); resolves with what came
 * back and when the server closed it.
 */
function client(
  path: string,
  text: string,
  halfClose = false,
): Promise<{ answer: string; closedAfterMs: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = createConnection(path);
    sockets.push(socket);
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => resolve({ answer, closedAfterMs: performance.now() - started }));
    if (halfClose) socket.end(text);
    else if (text !== "") socket.write(text);
  });
}

describe("the control socket's idle clients (issue 9, item 11)", () => {
  it("a client that sends nothing, or half a request, is disconnected after the idle timeout", async () => {
    const path = await serve(300);
    const [silent, partial] = await Promise.all([client(path, ""), client(path, '{"command":"sta')]);
    for (const [name, r] of [
      ["silent", silent],
      ["partial", partial],
    ] as const) {
      assert.equal(r.answer, "", `${name}: no answer`);
      assert.ok(
        r.closedAfterMs >= 250 && r.closedAfterMs < 3_000,
        `${name}: closed after ${r.closedAfterMs} ms`,
      );
    }
  });

  it("a request answered in time is not cut, and a held connection (logs -f) outlives the idle timeout", async () => {
    const path = await serve(200);
    const status = await client(path, '{"command":"status"}\n');
    assert.equal(status.answer, '{"ok":true,"message":"status"}\n');
    const socket = createConnection(path);
    sockets.push(socket);
    let closed = false;
    socket.on("close", () => (closed = true));
    socket.on("error", () => undefined);
    socket.write('{"command":"logs","follow":true}\n');
    await new Promise((resolve) => setTimeout(resolve, 800));
    assert.equal(closed, false, "the follower is still connected after 4 idle timeouts");
    socket.destroy();
  });
});

/**
 * Connects and sends `text`, then never reads: resolves with when the server dropped it, or null
 * after `waitMs`. A client that does not read never sees the end of the connection, so it writes a
 * space every 50 ms (the server ignores what follows a request): a write fails once it is dropped.
 */
function nonReader(path: string, text: string, waitMs: number): Promise<number | null> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = createConnection(path);
    sockets.push(socket);
    socket.pause();
    socket.on("error", () => undefined);
    const poke = setInterval(() => socket.write(" "), 50);
    const gaveUp = setTimeout(() => {
      clearInterval(poke);
      resolve(null);
    }, waitMs);
    socket.on("close", () => {
      clearInterval(poke);
      clearTimeout(gaveUp);
      resolve(performance.now() - started);
    });
    socket.write(text);
  });
}

/** A control server on a fresh socket with `handle`, idle bound `idleMs`, at most `max` connections. */
async function serveWith(handle: ControlHandler, idleMs: number, max?: number): Promise<string> {
  const path = join(scratchDir("control"), "c.sock");
  servers.push(await serveControl(path, handle, idleMs, max));
  return path;
}

describe("clients that do not take their answer (they held the master's memory and fds for ever)", () => {
  it("a client that sends its request and never reads nor closes is dropped once its answer has waited the idle bound, small answer or large", async () => {
    const big = Array.from({ length: 1000 }, (_, i) => `${i} ${"x".repeat(4000)}`);
    const path = await serveWith(
      (request) =>
        Promise.resolve(
          request.command === "logs"
            ? { ok: true, message: "logs", lines: big }
            : { ok: true, message: "status" },
        ),
      300,
    );
    const [small, large] = await Promise.all([
      nonReader(path, '{"command":"status"}\n', 5_000),
      nonReader(path, '{"command":"logs","lines":1000}\n', 5_000),
    ]);
    for (const [name, after] of [
      ["small answer", small],
      ["4 MB answer", large],
    ] as const) {
      assert.ok(after !== null, `${name}: still connected after 5 s`);
      assert.ok(after >= 250 && after < 3_000, `${name}: dropped after ${after} ms`);
    }
  });

  it("a follower that stops reading is dropped once its unread lines have not moved for the idle bound, long before the backlog bound", async () => {
    let stopped = false;
    const path = await serveWith((_request, connection) => {
      // A quiet tree: 16 KB every 50 ms would take 25 s to reach the 8 MB bound.
      const line = "q".repeat(16 * 1024);
      const tick = setInterval(() => {
        if (!connection.send({ ok: true, message: "log", lines: [line] })) clearInterval(tick);
      }, 50);
      connection.onClose(() => {
        stopped = true;
        clearInterval(tick);
      });
      return Promise.resolve(null);
    }, 300);
    const after = await nonReader(path, '{"command":"logs","follow":true}\n', 8_000);
    assert.ok(after !== null, "the stalled follower was still connected after 8 s");
    assert.ok(after < 6_000, `dropped after ${after} ms`);
    assert.ok(await until(() => stopped, 2_000), "its handler heard it leave");
  });

  it("past the cap on connections a client is refused with a line saying so and let go; once one leaves, a new client is served", async () => {
    const path = await serveWith(
      (request) =>
        request.command === "logs"
          ? Promise.resolve(null) // held, as `tsresty logs -f`
          : Promise.resolve({ ok: true, message: request.command }),
      30_000,
      3,
    );
    const held: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const socket = createConnection(path);
      sockets.push(socket);
      socket.on("error", () => undefined);
      held.push(socket);
      socket.write('{"command":"logs","follow":true}\n');
      await new Promise((resolve) => socket.once("connect", resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    const refused = await client(path, '{"command":"status"}\n');
    assert.match(
      refused.answer,
      /^\{"ok":false,"message":"too many control connections \(3 open\); try again"\}\n$/,
    );
    assert.ok(refused.closedAfterMs < 2_000, `refused in ${refused.closedAfterMs} ms`);
    // A refused client that does not even read is let go within a second or so.
    const mute = await nonReader(path, '{"command":"status"}\n', 5_000);
    assert.ok(mute !== null && mute < 3_000, `a mute refused client dropped after ${mute} ms`);
    held[0]?.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await client(path, '{"command":"status"}\n')).answer, '{"ok":true,"message":"status"}\n');
  });
});

describe("a client that half-closes once its request is sent (socat, nc -N)", () => {
  it("gets its answer, ready after the half-close (Node ended the socket first and the answer was lost); a request without its newline counts", async () => {
    const path = await serveWith(async (request) => {
      await new Promise((resolve) => setTimeout(resolve, 100)); // as status asks each process
      return { ok: true, message: request.command };
    }, 5_000);
    const ask = async (text: string): Promise<string> => (await client(path, text, true)).answer;
    const [whole, unterminated] = await Promise.all([
      ask('{"command":"status"}\n'),
      ask('{"command":"reload"}'),
    ]);
    assert.equal(whole, '{"ok":true,"message":"status"}\n');
    assert.equal(unterminated, '{"ok":true,"message":"reload"}\n');
  });
});

describe("the bound on a request's length", () => {
  it("holds for a line whose newline comes in the same read as the rest, counted in bytes (a 50 KB line, or 4,499 bytes of three-byte characters, was parsed and answered)", async () => {
    const path = await serve(5_000);
    /** A status request of `bytes` bytes before its newline, padded with `unit`. */
    const status = (bytes: number, unit = "x"): string => {
      const bare = Buffer.byteLength('{"command":"status","pad":""}');
      const text = `{"command":"status","pad":"${unit.repeat((bytes - bare) / Buffer.byteLength(unit))}"}\n`;
      assert.equal(Buffer.byteLength(text), bytes + 1);
      return text;
    };
    const tooLong = `${JSON.stringify({ ok: false, message: "request too long: a control request is one line of JSON of at most 4096 bytes" })}\n`;
    assert.equal((await client(path, status(4096))).answer, '{"ok":true,"message":"status"}\n');
    for (const text of [status(4097), status(50_000), status(4_499, "€")])
      assert.equal((await client(path, text)).answer, tooLong, `${Buffer.byteLength(text)} bytes`);
  });
});

describe("a follower that stops reading (logs -f suspended, or a client that never reads)", () => {
  it("is dropped once its unread answers pass the bound, with a last line saying why: the master does not buffer without end", async () => {
    const path = join(scratchDir("control"), "c.sock");
    let refusedAfter = -1;
    const line = "z".repeat(16 * 1024);
    servers.push(
      await serveControl(path, (_request, connection) => {
        // As the master's follower: a log line per turn, for as long as send() takes them.
        let sent = 0;
        const pump = (): void => {
          if (sent > 20 * FOLLOW_BACKLOG_BYTES) return; // unbounded: the test fails below
          if (!connection.send({ ok: true, message: "log", lines: [line] })) {
            refusedAfter = sent;
            return;
          }
          sent += line.length;
          setImmediate(pump);
        };
        pump();
        return Promise.resolve(null);
      }),
    );
    const socket = createConnection(path);
    sockets.push(socket);
    socket.on("error", () => undefined);
    socket.write('{"command":"logs","follow":true}\n');
    socket.pause(); // never reads, as a suspended `tsresty logs -f`
    await until(() => refusedAfter !== -1, 10_000);
    assert.ok(refusedAfter !== -1, "send() refused the follower's lines at some point");
    assert.ok(refusedAfter <= 2 * FOLLOW_BACKLOG_BYTES, `refused after ${refusedAfter} bytes`);
    // Once the reader comes back, it gets what was held, then the reason, then the end.
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (text += chunk));
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.resume();
    await closed;
    const last = JSON.parse(text.trimEnd().split("\n").at(-1) ?? "") as ControlResponse;
    assert.equal(last.ok, false);
    assert.match(last.message, /fell behind by more than \d+ MB/);
  });
});

describe("the control client (talkToMaster)", () => {
  /** A fake master at `prefix` that answers any request with `pieces`, written one by one. */
  async function fakeMaster(pieces: readonly string[]): Promise<string> {
    const prefix = scratchDir("control-client");
    const server = createServer((socket) => {
      socket.once("data", () => {
        const write = (i: number): void => {
          if (i === pieces.length) {
            socket.end();
            return;
          }
          socket.write(pieces[i] as string, () => {
            setImmediate(() => {
              write(i + 1);
            });
          });
        };
        write(0);
      });
    });
    await new Promise<void>((resolve) => server.listen(join(prefix, CONTROL_SOCKET), resolve));
    after(() => server.close());
    return prefix;
  }

  it("reads answers split anywhere across chunks, several in one chunk, and one of many MB", async () => {
    const big = {
      ok: true,
      message: "x",
      lines: Array.from({ length: 300 }, (_, i) => `${i} ${"y".repeat(60_000)}`),
    };
    const text = [{ ok: true, message: "one" }, big, { ok: false, message: "three" }]
      .map((answer) => `${JSON.stringify(answer)}\n`)
      .join("");
    const cuts = [5, 20, 21, 22, 40, 1000, 65_536, 9_000_000, text.length - 30, text.length - 1];
    const pieces = cuts.map((cut, i) => text.slice(i === 0 ? 0 : cuts[i - 1], cut));
    pieces.push(text.slice(cuts.at(-1)));
    assert.equal(pieces.join(""), text);
    const answers: ControlResponse[] = [];
    await talkToMaster(await fakeMaster(pieces), { command: "status" }, (answer) => {
      answers.push(answer);
    });
    assert.deepEqual(answers, [{ ok: true, message: "one" }, big, { ok: false, message: "three" }]);
  });

  it("an answer cut off by the end of the connection, or not JSON, is an error that shows its start", async () => {
    await assert.rejects(
      talkToMaster(await fakeMaster(['{"ok":true,"mess']), { command: "status" }, () => undefined),
      /not understood \(it sent "\{\\"ok\\":true,\\"mess"\)/,
    );
    await assert.rejects(
      talkToMaster(await fakeMaster(["<html>\n"]), { command: "status" }, () => undefined),
      /not understood \(it sent "<html>"\)/,
    );
  });

  it("an answer of the wrong shape is an error naming the field and what came, not read as it is (null, an array, a refusal with no message, lines that are not strings, a status report without its fields: the CLI printed 'tsresty: ' alone, a JavaScript error's text, or a stack trace)", async () => {
    const row = {
      type: "master",
      id: null,
      pid: 1,
      state: "running",
      nextTryMs: null,
      answered: null,
      generation: 1,
      uptime: 1,
      restarts: 0,
      rss: null,
      cpu: null,
      pending: null,
      running: null,
      timers: [],
    };
    const report = { masterPid: 1, listen: [], processes: [row], zones: [], timers: [] };
    for (const [answer, problem] of [
      ["null", "answer must be an object, received null"],
      ["[]", "answer must be an object, received an array"],
      ['{"message":"x"}', "answer.ok must be true or false, received undefined"],
      ['{"ok":false}', "answer.message must be a string when answer.ok is false, received undefined"],
      ['{"ok":false,"message":7}', "answer.message must be a string, received the number 7"],
      ['{"ok":true,"lines":5}', "answer.lines must be an array, received the number 5"],
      ['{"ok":true,"lines":["a",{"b":1}]}', "answer.lines[1] must be a string, received an object (Object)"],
      ['{"ok":true,"status":{}}', "answer.status.masterPid must be a number, received undefined"],
      [
        JSON.stringify({ ok: true, status: { ...report, processes: [{ ...row, cpu: "x" }] } }),
        'answer.status.processes[0].cpu must be a number, received a string ("x")',
      ],
      [
        JSON.stringify({ ok: true, status: { ...report, timers: [{ name: null }] } }),
        "answer.status.timers[0].kind must be a string, received undefined",
      ],
    ] as const) {
      const error = await talkToMaster(
        await fakeMaster([`${answer}\n`]),
        { command: "status" },
        () => undefined,
      ).then(
        () => null,
        (failure: unknown) => failure as Error,
      );
      assert.equal(
        error?.message,
        `the master's answer was not understood (${problem}; it sent ${JSON.stringify(answer.slice(0, 200))})`,
        answer,
      );
    }
    // The right shapes are taken: a refusal, a status report, lines.
    const answers: ControlResponse[] = [];
    const right = [
      { ok: false, message: "no" },
      { ok: true, message: "status", status: report },
      { ok: true, message: "logs", lines: ["a"] },
    ];
    await talkToMaster(
      await fakeMaster(right.map((answer) => `${JSON.stringify(answer)}\n`)),
      { command: "status" },
      (answer) => {
        answers.push(answer);
      },
    );
    assert.deepEqual(answers, right);
  });

  /** A fake master at `prefix` that does what `serve` says with each connection. */
  async function fakeServer(serve: (socket: Socket) => void): Promise<string> {
    const prefix = scratchDir("control-client");
    const server = createServer((socket) => {
      sockets.push(socket);
      socket.on("error", () => undefined);
      serve(socket);
    });
    await new Promise<void>((resolve) => server.listen(join(prefix, CONTROL_SOCKET), resolve));
    after(() => server.close());
    return prefix;
  }

  it("following, only the first answer is bounded: a silent master is given up on, one that sent its backlog is followed however long it stays quiet", async () => {
    const mute = await fakeServer(() => undefined);
    const started = Date.now();
    await assert.rejects(
      talkToMaster(mute, { command: "logs", follow: true, worker: null, lines: 0 }, () => undefined, {
        quietMs: 200,
        follow: true,
      }),
      /^MasterSilent: the master did not answer "logs" within 0\.2 s$/,
    );
    assert.ok(Date.now() - started < 2_000, `gave up after ${Date.now() - started} ms`);
    const quiet = await fakeServer((socket) => {
      socket.once("data", () => {
        socket.write('{"ok":true,"message":"logs","lines":[]}\n');
        setTimeout(() => socket.end('{"ok":true,"message":"log","lines":["late"]}\n'), 800);
      });
    });
    const lines: string[] = [];
    await talkToMaster(
      quiet,
      { command: "logs", follow: true, worker: null, lines: 0 },
      (answer) => {
        if (answer.ok) lines.push(...(answer.lines ?? []));
      },
      { quietMs: 200, follow: true },
    );
    assert.deepEqual(lines, ["late"]);
  });

  it("an answer its caller is not done with (its output is full) stops the reading: the master's writes back up instead of the client's memory growing", async () => {
    let server: Socket | undefined;
    let backlog = 0;
    const prefix = await fakeServer((socket) => {
      server = socket;
      socket.once("data", () => {
        const line = `${JSON.stringify({ ok: true, message: "log", lines: ["f".repeat(64 * 1024)] })}\n`;
        // As fast as it goes, up to 32 MB unread at most.
        const pump = (): void => {
          if (socket.destroyed) return;
          backlog = socket.writableLength;
          if (backlog < 32 * 1024 * 1024) socket.write(line);
          setImmediate(pump);
        };
        pump();
      });
    });
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let answers = 0;
    const talk = talkToMaster(prefix, { command: "logs", follow: true, worker: null, lines: 0 }, () => {
      answers++;
      return answers === 1 ? held : undefined; // the first answer fills the caller's output
    });
    assert.ok(await until(() => backlog > 8 * 1024 * 1024, 10_000), `the master's backlog: ${backlog} bytes`);
    assert.ok(answers < 200, `the client took ${answers} answers of 64 KB while its output was full`);
    // Once the output drains, reading goes on.
    const before = answers;
    release();
    assert.ok(await until(() => answers > before + 10, 10_000), "reading resumed");
    server?.destroy();
    await talk.catch(() => undefined);
  });

  it("a master that closes the connection at once (libuv's answer when it is out of descriptors) is named as possibly out of file descriptors, with the signals that still reach it", async () => {
    const closing = await fakeServer((socket) => {
      socket.destroy();
    });
    await assert.rejects(
      sendControl(closing, { command: "status" }, 2_000),
      /^Error: cannot reach the master's control socket: .*(EPIPE|ECONNRESET) \(the master closed the connection before it read the request: it may be out of file descriptors; signals still reach it: kill -QUIT, -HUP or -USR1 with the pid in the pid file\)$/,
    );
  });

  it("sendControl waits past its silence bound while the master says the request goes on, and returns the final answer; a master that falls silent midway is given up on", async () => {
    const progress = `${JSON.stringify({ ok: true, message: "reloading", progress: true })}\n`;
    const slow = await fakeServer((socket) => {
      socket.once("data", () => {
        socket.write(progress);
        const beat = setInterval(() => socket.write(progress), 50);
        setTimeout(() => {
          clearInterval(beat);
          socket.end('{"ok":true,"message":"reloaded (1 worker)"}\n');
        }, 1_600);
      });
    });
    // Beats every 50 ms against a bound of 400: a loaded machine (CI beside other tests) stalled
    // this process past a bound of 200 once.
    assert.deepEqual(await sendControl(slow, { command: "reload", progress: true }, 400), {
      ok: true,
      message: "reloaded (1 worker)",
    });
    const stalled = await fakeServer((socket) => {
      socket.once("data", () => socket.write(progress)); // then nothing: stopped midway
    });
    const started = Date.now();
    await assert.rejects(
      sendControl(stalled, { command: "reload", progress: true }, 200),
      /^MasterSilent: the master stopped answering "reload" \(nothing for 0\.2 s\)$/,
    );
    assert.ok(Date.now() - started < 2_000, `gave up after ${Date.now() - started} ms`);
  });
});
