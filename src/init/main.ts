/**
 * The init process: a short-lived child of the master, one per start and per reload, so that
 * every load of the config and the app is a fresh module graph (nginx gets a fresh Lua VM on
 * every HUP) and no user code ever runs in the long-lived master.
 *
 * The conversation: the master sends "load"; this process imports the config file, merges the
 * command-line flags, validates, and answers "config". Once the master has done what the config
 * asks of it first (prefix, listeners, zones), it sends "run-init": this process loads the app and
 * runs its `init` (bounded by `initTimeout`), and answers "init-done" with what `init` returned.
 * Any failure is answered "failed" with its kind and a one-line reason. Then it exits: work that
 * `init` left running does not outlive it.
 *
 * Here `ngx.process.type()` is "master", `ngx.worker.id()` null, timers are disabled (OpenResty:
 * "no request"), and `ngx.process.enablePrivilegedAgent()` works.
 */
import { loadConfigInput, resolveWithOverrides, type ResolvedConfig } from "../config/index.ts";
import { ConfigError, ContextError } from "../errors.ts";
import {
  parseMasterMessage,
  sendToParent,
  type FailureKind,
  type InitOutcome,
  type LoadRequest,
  type ZoneRef,
} from "../ipc/index.ts";
import { exitWhenWritten, handleSignals } from "../process/index.ts";
import {
  attachMasterZones,
  describeLoadError,
  describeUncaught,
  describeUserError,
  exitWithMaster,
  INIT_CONTEXT,
  installGlobalNgx,
  installRuntime,
  loadApp,
  reportPipeGroups,
  type App,
  unwatchedMessage,
} from "../runtime/index.ts";
import { preloadTypeScriptIfAsked } from "../util/loader.ts";
import { lineLogger, type LogSink } from "../util/log.ts";
import { withTimeout } from "../util/timeout.ts";
import { errorMessage } from "../util/error-message.ts";

/** Said when the app's top level creates a timer, which the init process does not have. */
const INIT_CONTEXT_HINT =
  "the app's top level runs in the init process too, which has no timers: create them in initWorker";

let failing = false;
const isFailing = (): boolean => failing;

async function fail(kind: FailureKind, reason: string): Promise<never> {
  if (!failing) {
    failing = true;
    await sendToParent({ type: "failed", kind, reason });
    exitWhenWritten(1);
  }
  return new Promise(() => undefined); // the first failure is the one reported
}

/** The master's "run-init", with the zones the config declared (the master made them meanwhile). */
function runInitMessage(): Promise<readonly ZoneRef[]> {
  return new Promise((resolve) => {
    const listener = (raw: unknown): void => {
      const message = parseMasterMessage(raw);
      if (message?.type !== "run-init") return;
      process.off("message", listener);
      resolve(message.zones);
    };
    process.on("message", listener);
  });
}

async function loadConfig(
  request: LoadRequest,
): Promise<{ raw: Record<string, unknown>; config: ResolvedConfig }> {
  try {
    const file = request.configFile === null ? {} : await loadConfigInput(request.configFile);
    return resolveWithOverrides(file, request.overrides, request.configName);
  } catch (error) {
    // A ConfigError names the file and the key; anything else came from the config's own code
    // (a getter that throws, say): its own frames only, as for the app.
    return fail(
      "config",
      error instanceof ConfigError
        ? error.message
        : `${request.configName}: reading the config threw ${describeUncaught(error)}`,
    );
  }
}

/** The init process's log: lines on stderr, which the master reads. */
function initLog(config: ResolvedConfig): LogSink {
  return lineLogger({
    write: (line) => process.stderr.write(line),
    pid: process.pid,
    workerId: () => null,
    minLevel: config.logLevel,
  });
}

async function runInit(request: LoadRequest, config: ResolvedConfig, log: LogSink): Promise<InitOutcome> {
  let privilegedAgent: number | null = null;
  let initRunning = true;
  installRuntime({
    identity: Object.freeze({
      type: "master" as const,
      workerId: null,
      workerCount: config.workers,
      masterPid: process.ppid,
    }),
    config,
    log,
    workerPids: () => [],
    timersDisabledIn: INIT_CONTEXT,
    enablePrivilegedAgent: (connections) => {
      if (!initRunning) throw new ContextError("ngx.process.enablePrivilegedAgent");
      privilegedAgent = connections;
    },
  });
  installGlobalNgx();
  let app: App;
  await enterStage({ kind: "app", what: "the app's top level" });
  try {
    app = await loadApp(request.appPath);
  } catch (error) {
    // The app's top level runs here as well as in every worker, where Node users put their timers.
    const [first, ...frames] = describeLoadError("app", error).split("\n");
    const timers = error instanceof ContextError && error.message.startsWith("ngx.timer.");
    const hint = timers ? ` (${INIT_CONTEXT_HINT})` : "";
    return await fail("app", [`${first ?? ""}${hint}`, ...frames].join("\n"));
  }
  let initData: unknown;
  await enterStage({ kind: "init", what: "init" });
  try {
    const outcome = await withTimeout(
      Promise.resolve().then(() => app.init?.()),
      config.initTimeout * 1000,
    );
    if (!outcome.done) {
      return await fail("init", `init did not settle within ${config.initTimeout} s (config initTimeout)`);
    }
    initData = outcome.value;
  } catch (error) {
    return await fail("init", `init failed: ${describeUserError(error)}`);
  } finally {
    initRunning = false;
  }
  // A rejection that init left behind surfaces before this process answers.
  await new Promise((resolve) => setImmediate(resolve));
  try {
    initData = structuredClone(initData);
  } catch (error) {
    return fail(
      "init",
      `init returned a value that cannot be sent to the workers (it must survive structuredClone): ${errorMessage(
        error,
      )}`,
    );
  }
  return { privilegedAgent, servesHttp: app.fetch !== undefined || app.handler !== undefined, initData };
}

handleSignals({
  // The master ends this process with SIGKILL when it must; a stray signal changes nothing.
  SIGHUP: () => undefined,
  SIGQUIT: () => undefined,
  SIGUSR1: () => undefined,
  SIGUSR2: () => undefined,
  SIGTERM: () => process.exit(143),
  SIGINT: () => process.exit(130),
});
process.on("disconnect", () => process.exit(0));
/** What runs now, for a rejection nobody handled: the config's code, the app's top level, or init. */
interface Stage {
  readonly kind: FailureKind;
  readonly what: string;
}
let stage: Stage = { kind: "config", what: "the config" };

/**
 * Blames what runs from now on `next`, once the stage before has had its rejections reported:
 * Node reports one after the microtasks of the turn that left it, so switching at once would
 * blame the last module's top level on the next stage.
 */
async function enterStage(next: Stage): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  stage = next;
}
// A rejection from their background work fails this load, not the master.
process.on("unhandledRejection", (reason) => {
  void fail(stage.kind, `${stage.what} left a promise rejected: ${describeUncaught(reason)}`);
});
// So does a throw from a callback of theirs (a timer's, an event's): it ended this process with
// Node's report, forwarded as warn lines, and "the init process exited with code 1 before it answered".
process.on("uncaughtException", (error) => {
  void fail(stage.kind, `${stage.what} threw from a callback: ${describeUncaught(error)}`);
});

const masterPid = process.ppid;
await preloadTypeScriptIfAsked();
const request = await new Promise<LoadRequest>((resolve) => {
  const listener = (raw: unknown): void => {
    const message = parseMasterMessage(raw);
    if (message?.type !== "load") return;
    process.off("message", listener);
    resolve(message.request);
  };
  process.on("message", listener);
  void sendToParent({ type: "standing-by" });
});
// Before the config's code runs: a master that dies while this process is busy (the config's top
// level, the app's, init) still ends it.
const unwatched = exitWithMaster(masterPid, request.addon);
// The config's code, the app's top level and init may start pipe children: the master ends them
// should this process be SIGKILLed (a stop while init runs, an init that never yields).
reportPipeGroups();
const { raw, config } = await loadConfig(request);
const go = runInitMessage();
await sendToParent({ type: "config", config: raw });
try {
  attachMasterZones(await go, masterPid);
} catch (error) {
  await fail("init", errorMessage(error));
}
const log = initLog(config);
if (unwatched !== null) log("warn", unwatchedMessage(unwatched));
const outcome = await runInit(request, config, log);
// (an unhandled rejection may have begun failing this load meanwhile)
if (!isFailing()) await sendToParent({ type: "init-done", outcome });
exitWhenWritten(0);
