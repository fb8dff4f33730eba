/**
 * Single mode (`tsresty -e CODE`, `tsresty FILE`), as OpenResty's `resty`: one process of type
 * "single" with worker id 0. The main chunk runs as a zero-delay timer (so inside it
 * `runningCount()` is 1, as in resty); when it returns, graceful exit begins: pending timers
 * fire at once with premature = true, and the process exits once every running callback has
 * settled (or `shutdownTimeout` passes, when one is configured).
 *
 * Exit codes: 0 after a clean end (or `process.exitCode`), 1 for an uncaught error in the main
 * chunk (`ERROR: …` on stderr), 13 when the main chunk or a timer callback waits on a promise
 * that nothing can settle any more, 2 for a bad command line, a missing file or a bad config,
 * `n` for `process.exit(n)`, 130 on SIGINT and 143 on SIGTERM (fast: no premature timers), 0 at
 * once when the reader of stdout goes away. SIGQUIT and SIGHUP start the graceful exit (the main
 * chunk, a zero-delay timer, still runs when one came before it began).
 */
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ConfigError } from "../errors.ts";
import {
  loadConfigInput,
  parseShdictFlags,
  resolveWithOverrides,
  type ResolvedConfig,
} from "../config/index.ts";
import { createZone, installZones } from "../shdict/index.ts";
import { exitWhenWritten, handleSignals, ignore, singleIdentity } from "../process/index.ts";
import { endLiveGroups } from "../pipe/index.ts";
import {
  appMembers,
  describeRunning,
  describeUncaught,
  drainCutMessage,
  neverRan,
  installGlobalNgx,
  installRuntime,
  type RuntimeContext,
} from "../runtime/index.ts";
import { isTypeScript, loadModule, prepareToLoad } from "../util/loader.ts";
import { notAModule } from "../util/file-kind.ts";
import { withSyntaxPlace } from "../util/syntax-place.ts";
import { lineLogger } from "../util/log.ts";
import { withTimeout } from "../util/timeout.ts";
import { typeScriptHooks } from "./hooks.ts";
import { endPipeGroupsOnAbort, exitOnSecondStopSignal } from "./stop-signals.ts";
import { errorMessage } from "../util/error-message.ts";

export interface SingleCommand {
  readonly code: string | null;
  readonly file: string | null;
  readonly args: readonly string[];
  readonly configPath: string | null;
  /** `--shdict 'NAME SIZE'`, as given. */
  readonly shdict: readonly string[];
}

function fail(message: string, code: number): never {
  process.stderr.write(`tsresty: ${message}\n`);
  process.exit(code);
}

/** resty writes `error_log stderr warn`: ngx.log's notice and info lines are not shown by default. */
const SINGLE_LOG_LEVEL = "warn";

/** The config file (when given) with the `--shdict` flags over it. */
async function loadConfig(command: SingleCommand): Promise<ResolvedConfig> {
  const zones = parseShdictFlags(command.shdict);
  if (!zones.ok) fail(`--shdict ${zones.problem}`, 2);
  const flags = command.shdict.length === 0 ? {} : { shdict: zones.value };
  // A config whose top-level await nothing can settle empties the event loop: Node exited 13
  // without a word. Said here, as a bad config (exit 2).
  const stuck = (): void => {
    fail(
      `${command.configPath ?? "config"}: its top-level await waits on a promise that nothing can settle`,
      2,
    );
  };
  process.once("beforeExit", stuck);
  try {
    const file = command.configPath === null ? {} : await loadConfigInput(command.configPath);
    const { config } = resolveWithOverrides(file, flags, command.configPath ?? "config");
    // resty's error log level, unless the config names one (start's default is nginx's notice).
    return "logLevel" in file ? config : { ...config, logLevel: SINGLE_LOG_LEVEL };
  } catch (error) {
    // A ConfigError names the file and the key; anything else came from the config's own code (a
    // getter that throws, say): said as `tsresty start` says it, not as Node's crash report.
    const name = command.configPath ?? "config";
    fail(
      error instanceof ConfigError
        ? error.message
        : `${name}: reading the config threw ${describeUncaught(error)}`,
      2,
    );
  } finally {
    process.off("beforeExit", stuck);
  }
}

/**
 * The URL of the main chunk: the file, or the `-e` code served as `<cwd>/[eval].ts`, once the
 * process can load it.
 */
async function mainURL(command: SingleCommand): Promise<string> {
  if (command.file !== null) {
    const path = resolve(command.file);
    if (command.file === "") fail("the input file's name is empty.", 2);
    // Node reads the program from stdin for `-`; tsresty does not (a file of that name is ./-).
    if (command.file === "-")
      fail(
        "reading the program from stdin (-) is not supported: give a FILE (./- for a file named -) or -e CODE.",
        2,
      );
    if (!existsSync(path)) fail(`input file ${command.file} not found.`, 2);
    const why = notAModule(path, statSync(path));
    if (why !== null) fail(`input file ${command.file} ${why}.`, 2);
    await prepareToLoad(path);
    const url = pathToFileURL(path);
    // TypeScript runs as an ES module (top-level await) whatever package.json says; see eval-hooks.mjs.
    if (/\.(ts|mts|tsx)$/.test(path)) url.searchParams.set("tsresty-esm", "");
    return url.href;
  }
  const port = await typeScriptHooks();
  const path = join(process.cwd(), "[eval].ts");
  await prepareToLoad(path);
  const url = pathToFileURL(path).href;
  port.postMessage({ url, source: command.code ?? "" });
  return url;
}

/** Waits for running callbacks, at most `shutdownTimeout` seconds when one is set. */
async function drain(context: RuntimeContext): Promise<void> {
  const timeout = context.config.shutdownTimeout;
  const idle = context.timers.whenIdle();
  // None set: no bound, as `resty`. A 0 that is set bounds it at once, as in `tsresty start`.
  if (timeout === null) return idle;
  const outcome = await withTimeout(idle, timeout * 1000);
  if (!outcome.done) context.log("warn", drainCutMessage(timeout, context.timers, "exiting"));
}

/** Whether the main chunk or the config is TypeScript (`-e` code is). */
function needsTypeScript(command: SingleCommand): boolean {
  return [command.file ?? "[eval].ts", command.configPath ?? ""].some(isTypeScript);
}

export async function runSingle(command: SingleCommand): Promise<void> {
  // ^C and TERM end the process from the start, while a config loads too (one whose top-level
  // await never settled could only be SIGKILLed); QUIT and HUP wait for the runtime, queued.
  handleSignals({ SIGINT: () => process.exit(130), SIGTERM: () => process.exit(143) });
  // And a second one at once, while a config's code keeps the main thread from answering the
  // first (`for (;;) {}` at its top level). Chained again below: handlers replaced there drop it
  // (and a failure is said there, at the config's log level).
  exitOnSecondStopSignal(null);
  endPipeGroupsOnAbort();
  // First, so that single mode's hooks come before tsx, whoever loads first.
  if (needsTypeScript(command)) await typeScriptHooks();
  const config = await loadConfig(command);
  // A single process makes its zones itself (resty --shdict).
  try {
    installZones(config.shdict.map((spec) => createZone(spec)));
  } catch (error) {
    // As `start` reports it: one line (the addon missing, mmap refused), not Node's dump.
    fail(errorMessage(error), 1);
  }
  const url = await mainURL(command);
  const log = lineLogger({
    write: (line) => process.stderr.write(line),
    pid: process.pid,
    workerId: () => 0,
    minLevel: config.logLevel,
  });

  let finishing = false;
  const finish = (): void => {
    if (finishing) return;
    finishing = true;
    context.timers.beginExit();
    void drain(context)
      .then(() => endLiveGroups())
      .then(() => {
        // A turn later: a rejection that the last code left unhandled is seen first (fatal, below).
        setImmediate(() => {
          exitWhenWritten();
        });
      });
  };
  // As in OpenResty, signalGracefulExit() takes effect once the calling code yields:
  // exiting() is still false right after the call.
  const context = installRuntime({
    identity: singleIdentity(),
    config,
    log,
    requestGracefulExit: () => {
      setImmediate(finish);
    },
  });
  installGlobalNgx();

  process.argv = [
    process.execPath,
    command.file === null ? "[eval]" : resolve(command.file),
    ...command.args,
  ];
  // What nothing caught (a throw in a plain setTimeout callback) or handled (a promise rejected
  // with no handler, as \`async function f() { throw … } f();\`) ends the process as Node's
  // default does, exit 1, in single mode's words. A timer callback's own rejection is not one:
  // the timer core handles it (logged at error level).
  const fatal = (error: unknown): void => {
    process.stderr.write(`ERROR: ${describeUncaught(error)}\n`);
    process.exit(1);
  };
  process.on("uncaughtException", fatal);
  process.on("unhandledRejection", fatal);
  // A reader that goes away (`tsresty -e '…' | head -1`) ends the run quietly, as it ends any
  // tool. Node's console swallows that EPIPE only while stdout has no 'error' listener of its
  // own, and the thread of the TypeScript hooks pipes its output into stdout, which adds one:
  // the EPIPE became an uncaught error (ERROR: write EPIPE, exit 1).
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    fatal(error);
  });

  let mainDone = false;
  // Node ends a process whose event loop is empty even while a promise is pending: say so
  // instead of exiting 0 in silence (13 is Node's code for an unsettled top-level await).
  // The same for a timer callback whose promise never settles: the exit would wait for it forever.
  process.on("beforeExit", () => {
    // What never ran meanwhile is said too: runs that waited for the slots the stuck ones hold.
    const lost = neverRan(context.timers);
    if (!mainDone) {
      process.stderr.write(
        `ERROR: the main chunk waits on a promise that nothing can settle any more${lost}\n`,
      );
      process.exit(13);
    }
    const stuck = describeRunning(context.timers.runningTimers());
    if (stuck === "") return;
    process.stderr.write(
      `ERROR: ${stuck} still running, waiting on a promise that nothing can settle any more${lost}\n`,
    );
    process.exit(13);
  });
  context.timers.at({ delay: 0, name: "main chunk" }, async () => {
    try {
      const module = await loadModule(url);
      const members = appMembers(module.default);
      if (command.file !== null && members.length > 0)
        log(
          "warn",
          `${command.file} is an app (${members.join(", ")}): single mode ran its top level, and serves nothing; run it with tsresty start ${command.file}`,
        );
    } catch (error) {
      process.stderr.write(`ERROR: ${describeUncaught(withSyntaxPlace(error, fileURLToPath(url)))}\n`);
      process.exit(1);
    }
    mainDone = true;
    // Once this run has settled: premature callbacks then see the main chunk no longer running.
    setImmediate(finish);
  });
  // Once the main chunk is a timer: a QUIT or HUP queued while the config loaded begins the exit
  // here, and the exit waits for that zero-delay timer, which runs. Replayed before it existed,
  // it found nothing to wait for and the process exited 0 with the program never run.
  handleSignals({
    SIGINT: () => process.exit(130),
    SIGTERM: () => process.exit(143),
    SIGQUIT: finish,
    SIGHUP: finish,
    // No log file to reopen in single mode; the handler keeps Node from opening the inspector.
    SIGUSR1: ignore,
    SIGUSR2: ignore,
  });
  exitOnSecondStopSignal(log);
}
