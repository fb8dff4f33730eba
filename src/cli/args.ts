import { existsSync } from "node:fs";
import { parseArgs as parseFlags, type ParseArgsConfig } from "node:util";
import { UsageError } from "../errors.ts";
import { errorMessage } from "../util/error-message.ts";

export interface SingleCommand {
  readonly kind: "single";
  /** The code of `-e`, or null when a file is run. */
  readonly code: string | null;
  /** The file to run, or null with `-e`. */
  readonly file: string | null;
  readonly args: readonly string[];
  readonly configPath: string | null;
  /** `--shdict 'NAME SIZE'`, as given. */
  readonly shdict: readonly string[];
}

export interface StartCommand {
  readonly kind: "start";
  readonly app: string | null;
  readonly configPath: string | null;
  readonly workers: string | null;
  readonly listen: readonly string[];
  readonly prefix: string | null;
  readonly errorLog: string | null;
  readonly log: string | null;
  /** `--shdict 'NAME SIZE'`, as given. */
  readonly shdict: readonly string[];
}

export interface ControlCommand {
  readonly kind: "reload" | "stop" | "status";
  readonly prefix: string | null;
  readonly fast: boolean;
  readonly json: boolean;
}

export interface LogsCommand {
  readonly kind: "logs";
  readonly prefix: string | null;
  readonly follow: boolean;
  /** Only this worker id's lines. */
  readonly worker: number | null;
  readonly lines: number;
}

/** What the command line asks for. */
export type Command =
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | SingleCommand
  | StartCommand
  | ControlCommand
  | LogsCommand;

export const USAGE = `Usage:
  tsresty [--config FILE] [--shdict 'NAME SIZE'] -e CODE [ARGS...]   TypeScript CODE in a single process (like resty -e)
  tsresty [--config FILE] [--shdict 'NAME SIZE'] FILE [ARGS...]      a .ts/.js file in a single process
  tsresty start [APP] [--config FILE] [--workers N|auto] [--listen [HOST:]PORT]... [--prefix DIR]
                [--error-log FILE] [--log FILE] [--shdict 'NAME SIZE']...
                                              run APP (default ./app.ts) with a master and workers, in the foreground
  tsresty reload [--prefix DIR]               new workers with the new code and config, then the old ones drain
  tsresty stop [--fast] [--prefix DIR]        graceful stop (or fast)
  tsresty status [--json] [--prefix DIR]      every process of the running tree
  tsresty logs [-f] [--worker N] [-n LINES] [--prefix DIR]
                                              the tree's last log lines, of 1,000 kept (and new ones with -f)
  tsresty --help | --version

Options:
  -e CODE          TypeScript to run; top-level await allowed; the global ngx is there
  --config FILE    a config module (export default defineConfig({...})); start reads ./tsresty.config.ts (or .mts .cts .js .mjs .cjs) by default
  --prefix DIR     where the pid file and the control socket live (default ./.tsresty)
  --shdict 'NAME SIZE'  a shared dictionary (ngx.shared.NAME), e.g. 'dogs 10m'; repeatable; start and single mode
  -h, --help       show this text
  -v, --version    print the version

In single mode, the words after CODE or FILE are the program's: process.argv.slice(2).`;

const SUBCOMMANDS = ["start", "reload", "stop", "status", "logs"] as const;

/**
 * The flags that name a path, and what they need: an empty one (`--prefix "$UNSET"`) resolved to
 * the working directory, so that `stop --prefix ''` spoke to a master there.
 */
const PATHS: Readonly<Record<string, string>> = {
  config: "a file name",
  prefix: "a directory",
  "error-log": "a file name",
  log: "a file name",
};

function flags(
  argv: readonly string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  positionals: number,
): { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] } {
  let parsed;
  try {
    parsed = parseFlags({
      args: [...argv],
      options,
      allowPositionals: positionals > 0,
      strict: true,
      tokens: true,
    });
  } catch (error) {
    const message = errorMessage(error);
    // Node's three lines for `--workers -1`, which asked whether the value was forgotten.
    const dashed = /^Option '(-[^']+)' argument is ambiguous/.exec(message)?.[1];
    if (dashed !== undefined) {
      const form = dashed.startsWith("--") ? `${dashed}=VALUE` : `${dashed}VALUE`;
      throw new UsageError(`option ${dashed} needs a value; one that starts with a dash is given as ${form}`);
    }
    throw new UsageError(message.replace(/\. To specify a positional.*$/s, ""));
  }
  if (parsed.positionals.length > positionals)
    throw new UsageError(`unexpected argument ${String(parsed.positionals[positionals])}`);
  // util.parseArgs keeps the last of a flag given twice: `--workers 3 --workers 1` ran 1 worker
  // without a word. Only the flags that take several values (--listen, --shdict) may repeat.
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== "option") continue;
    const needs = PATHS[token.name];
    if (token.value === "" && needs !== undefined)
      throw new UsageError(`option ${token.rawName} needs ${needs}`);
    if (options[token.name]?.multiple === true) continue;
    if (seen.has(token.name)) throw new UsageError(`option ${token.rawName} given twice`);
    seen.add(token.name);
  }
  return parsed;
}

const stringOrNull = (value: unknown): string | null => (typeof value === "string" ? value : null);

function parseSubcommand(name: (typeof SUBCOMMANDS)[number], argv: readonly string[]): Command {
  // `tsresty start --help` asks for the usage, as `tsresty --help` does (it was an unknown option).
  if (argv.some((arg) => arg === "--help" || arg === "-h")) return { kind: "help" };
  if (name === "start") {
    const { values, positionals } = flags(
      argv,
      {
        config: { type: "string" },
        workers: { type: "string" },
        listen: { type: "string", multiple: true },
        prefix: { type: "string" },
        "error-log": { type: "string" },
        log: { type: "string" },
        shdict: { type: "string", multiple: true },
      },
      1,
    );
    return {
      kind: "start",
      app: positionals[0] ?? null,
      configPath: stringOrNull(values["config"]),
      workers: stringOrNull(values["workers"]),
      listen: (values["listen"] as string[] | undefined) ?? [],
      prefix: stringOrNull(values["prefix"]),
      errorLog: stringOrNull(values["error-log"]),
      log: stringOrNull(values["log"]),
      shdict: (values["shdict"] as string[] | undefined) ?? [],
    };
  }
  if (name === "logs") return parseLogs(argv);
  const { values } = flags(
    argv,
    {
      prefix: { type: "string" },
      ...(name === "stop" ? { fast: { type: "boolean" } } : {}),
      ...(name === "status" ? { json: { type: "boolean" } } : {}),
    },
    0,
  );
  return {
    kind: name,
    prefix: stringOrNull(values["prefix"]),
    fast: values["fast"] === true,
    json: values["json"] === true,
  };
}

function parseLogs(argv: readonly string[]): LogsCommand {
  const { values } = flags(
    argv,
    {
      prefix: { type: "string" },
      follow: { type: "boolean", short: "f" },
      worker: { type: "string" },
      lines: { type: "string", short: "n" },
    },
    0,
  );
  const number = (flag: string, value: unknown, fallback: number | null): number | null => {
    if (value === undefined) return fallback;
    if (typeof value !== "string" || !/^\d+$/.test(value)) {
      throw new UsageError(`${flag} must be a whole number, received ${JSON.stringify(value)}`);
    }
    return Number(value);
  };
  const worker = number("--worker", values["worker"], null);
  // Past 2^53 the id read is another number (99999999999999999999 was "no worker 100000000000000000000").
  if (worker !== null && !Number.isSafeInteger(worker))
    throw new UsageError(
      `--worker must be a whole number of at most ${Number.MAX_SAFE_INTEGER}, received ${JSON.stringify(values["worker"])}`,
    );
  return {
    kind: "logs",
    prefix: stringOrNull(values["prefix"]),
    follow: values["follow"] === true,
    worker,
    lines: number("-n/--lines", values["lines"], 50) ?? 50,
  };
}

/**
 * Reads the command line. For single mode, options come before the program; the first word
 * that is not an option is the FILE (without -e), and everything after the program belongs to it.
 */
export function parseArgs(argv: readonly string[]): Command {
  const first = argv[0];
  if (first !== undefined && (SUBCOMMANDS as readonly string[]).includes(first)) {
    return parseSubcommand(first as (typeof SUBCOMMANDS)[number], argv.slice(1));
  }
  let code: string | null = null;
  let configPath: string | null = null;
  const shdict: string[] = [];
  let index = 0;
  const value = (flag: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    const next = argv[++index];
    if (next === undefined) throw new UsageError(`option ${flag} needs a value`);
    return next;
  };
  // Every word after `-e CODE` is the program's (process.argv), dashes or not, as after a FILE.
  for (; index < argv.length && code === null; index++) {
    const arg = argv[index] as string;
    if (arg === "--") {
      index++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    // `--version=2` printed the version, its value dropped (a command's `--json=yes` is refused).
    if (inline !== undefined && (flag === "--help" || flag === "--version"))
      throw new UsageError(`option ${flag} takes no value, received ${JSON.stringify(inline)}`);
    switch (flag) {
      case "-h":
      case "--help":
        return { kind: "help" };
      case "-v":
      case "--version":
        return { kind: "version" };
      case "-e":
        code = value(flag, inline);
        break;
      case "--config":
        if (configPath !== null) throw new UsageError("option --config given twice");
        configPath = value(flag, inline);
        if (configPath === "") throw new UsageError("option --config needs a file name");
        break;
      case "--shdict":
        shdict.push(value(flag, inline));
        break;
      default:
        throw new UsageError(`unknown option ${flag}`);
    }
  }
  const rest = argv.slice(index);
  if (code !== null) return { kind: "single", code, file: null, args: rest, configPath, shdict };
  const [file, ...args] = rest;
  if (file === undefined) throw new UsageError("nothing to run: give -e CODE or a FILE");
  // `tsresty --config c.ts start app.ts` read start as a FILE, then called it an unknown command.
  if (index > 0 && (SUBCOMMANDS as readonly string[]).includes(file) && !existsSync(file)) {
    throw new UsageError(
      `${file} is a command: write it first, its options after it (tsresty ${file} --help lists them)`,
    );
  }
  if (looksLikeCommand(file)) {
    throw new UsageError(
      `unknown command ${file}; the commands are ${SUBCOMMANDS.join(", ")} (or run -e CODE or a FILE)`,
    );
  }
  return { kind: "single", code: null, file, args, configPath, shdict };
}

/** A bare word (no dot, no slash) that is not a file here is a mistyped command, not a program. */
function looksLikeCommand(word: string): boolean {
  return /^[a-z][a-z-]*$/i.test(word) && !existsSync(word);
}
