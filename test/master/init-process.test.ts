/**
 * The master's bounds on the init process (src/master/init-process.ts), with a stand-in for the
 * master's children and Node's mocked timers: what a bound that passes says it was waiting for
 * (and, for an init process stopped by a real SIGSTOP, that it was stopped).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, afterEach, beforeEach, describe, it, mock } from "node:test";
import type { LoadRequest, MasterMessage } from "../../src/ipc/index.ts";
import type { Child, Children } from "../../src/master/children.ts";
import { InitProcess } from "../../src/master/init-process.ts";

const request: LoadRequest = {
  appPath: "/srv/app.ts",
  configFile: "/srv/tsresty.config.ts",
  configName: "tsresty.config.ts",
  overrides: {},
  cycle: 1,
  addon: "/srv/node_modules/tsresty/build/Release/tsresty.node",
};

/**
 * Children that fork one stand-in child (with `pid`, a real process's), record what is sent to it
 * and count the kills.
 */
function children(pid = 0): { children: Children; sent: MasterMessage[]; kills: () => number } {
  const child = { failure: null, pid } as unknown as Child;
  const sent: MasterMessage[] = [];
  let kills = 0;
  const fake = {
    fork: () => child,
    send: (_child: Child, message: MasterMessage) => sent.push(message),
    kill: () => {
      kills++;
    },
  } as unknown as Children;
  return { children: fake, sent, kills: () => kills };
}

/** Lets the promise callbacks queued so far run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("the init process's bounds", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout"] }));
  afterEach(() => mock.timers.reset());

  it("a config whose code never ends is killed after 60 s, and the error names the config and what still runs (it said only that the init process did not answer)", async () => {
    const tree = children();
    const init = new InitProcess(tree.children, request, new AbortController().signal);
    init.deliver({ type: "standing-by" } as never);
    const config = init.config();
    const outcome = assert.rejects(
      config,
      /^StartError: the init process took more than 60 s to load the config tsresty\.config\.ts: its code still runs \(a top-level await that never settles, or a loop\)$/,
    );
    await settle();
    assert.equal(tree.sent[0]?.type, "load");
    mock.timers.tick(59_999);
    await settle();
    assert.equal(tree.kills(), 0);
    mock.timers.tick(1);
    await outcome;
    assert.equal(tree.kills(), 1);
  });

  it("a config whose init process was stopped (a real SIGSTOP) is said to be stopped, not code that never ends (it was taken for a top-level await that never settles, or a loop)", async () => {
    const stopped = spawn("sleep", ["60"], { stdio: "ignore" });
    after(() => stopped.kill("SIGKILL"));
    const pid = stopped.pid ?? 0;
    process.kill(pid, "SIGSTOP");
    // The stop lands asynchronously; setTimeout is mocked here, so the wait is a bounded spin.
    const deadline = Date.now() + 5_000;
    while (!/\) T /.test(readFileSync(`/proc/${pid}/stat`, "latin1")) && Date.now() < deadline);
    const tree = children(pid);
    const init = new InitProcess(tree.children, request, new AbortController().signal);
    init.deliver({ type: "standing-by" } as never);
    const outcome = assert.rejects(
      init.config(),
      new RegExp(
        `^StartError: the init process took more than 60 s to load the config tsresty\\.config\\.ts: it was stopped \\(pid ${pid} in state T: SIGSTOP, a debugger, or a terminal's job control\\), not running its code$`,
      ),
    );
    await settle();
    mock.timers.tick(60_000);
    await outcome;
    assert.equal(tree.kills(), 1);
  });

  it("an app or init that never yields is killed after initTimeout plus the load margin, and the error says so", async () => {
    const tree = children();
    const init = new InitProcess(tree.children, request, new AbortController().signal);
    init.deliver({ type: "standing-by" } as never);
    await settle();
    const outcome = assert.rejects(
      init.run([], 5_000, 60_000),
      /^StartError: the init process took more than 65 s to load the app and run init \(initTimeout 5 s, plus 60 s to load the app\): the app's top level or init still runs/,
    );
    assert.equal(tree.sent[1]?.type, "run-init");
    mock.timers.tick(65_000);
    await outcome;
    assert.equal(tree.kills(), 1);
  });
});
