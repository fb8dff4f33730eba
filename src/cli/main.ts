import { ConfigError, PathError, StartError, UsageError } from "../errors.ts";
import { StartCancelled } from "../master/index.ts";
import { parseArgs, USAGE, type Command, type SingleCommand } from "./args.ts";
import { control, ControlError, logs } from "./control.ts";
import { localCopy } from "./local-copy.ts";
import { start } from "./start.ts";
import { exitWhenWritten, releaseEndingSignals } from "../process/index.ts";
import { escapeControls } from "../util/log.ts";
import { ownModule } from "../util/own-module.ts";
import { VERSION } from "../util/version.ts";

/** The single-mode role, loaded by URL: the CLI never imports a role's code statically. */
const SINGLE_ROLE = ownModule(new URL("../single/main.ts", import.meta.url)).href;

interface SingleRole {
  runSingle(command: SingleCommand): Promise<void>;
}

function fail(message: string, code: number): never {
  // A message may carry what the master sent (a process posing as it could send anything).
  process.stderr.write(`tsresty: ${escapeControls(message)}\n`);
  process.exit(code);
}

/**
 * A command that only prints (help, version) or talks to a master: ^C, TERM and HUP end it as
 * they end any tool, and a reader that goes away (`tsresty status | head -1`) ends it quietly.
 */
function behaveAsATool(): void {
  releaseEndingSignals();
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(0);
  });
}

async function run(command: Command): Promise<void> {
  if (command.kind !== "single" && command.kind !== "start") behaveAsATool();
  switch (command.kind) {
    case "help":
      process.stdout.write(`${USAGE}\n`);
      return;
    case "version":
      process.stdout.write(`tsresty ${VERSION}\n`);
      return;
    case "single": {
      const role = (await import(SINGLE_ROLE)) as SingleRole;
      await role.runSingle(command);
      return;
    }
    case "start":
      await start(command);
      // The master forwards its children's output: their last lines may still be queued.
      exitWhenWritten(0);
      return;
    case "reload":
    case "stop":
    case "status":
      await control(command);
      return;
    case "logs":
      await logs(command);
      return;
  }
}

/** Entry of the `tsresty` command: usage errors exit 2, failures of start and control commands exit 1. */
export async function main(argv: readonly string[]): Promise<void> {
  try {
    const command = parseArgs(argv);
    const other = localCopy(command);
    // That copy's bin reads process.argv itself.
    if (other !== null) await import(other);
    else await run(command);
  } catch (error) {
    if (error instanceof UsageError) fail(`${error.message}\n${USAGE}`, 2);
    if (error instanceof ConfigError || error instanceof PathError) fail(error.message, 2);
    if (error instanceof StartCancelled) fail(error.message, 0);
    if (error instanceof StartError) fail(`start failed: ${error.message}`, 1);
    if (error instanceof ControlError) fail(error.message, 1);
    throw error;
  }
}
