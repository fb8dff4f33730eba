import { readFileSync } from "node:fs";
import { UsageError } from "../errors.ts";
import { parseArgs, USAGE, type Command } from "./args.ts";

/** The single-mode role, loaded by URL: the CLI never imports a role's code statically. */
const SINGLE_ROLE = new URL("../single/main.ts", import.meta.url).href;

interface SingleRole {
  runSingle(command: Extract<Command, { kind: "single" }>): Promise<void>;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/** Entry of the `tsresty` command. Exits 2 on a bad command line. */
export async function main(argv: readonly string[]): Promise<void> {
  let command: Command;
  try {
    command = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`tsresty: ${error.message}\n${USAGE}\n`);
    process.exit(2);
  }
  switch (command.kind) {
    case "help":
      process.stdout.write(`${USAGE}\n`);
      return;
    case "version":
      process.stdout.write(`tsresty ${version()}\n`);
      return;
    case "single": {
      const role = (await import(SINGLE_ROLE)) as SingleRole;
      await role.runSingle(command);
      return;
    }
  }
}
