import { UsageError } from "../errors.ts";

/** What the command line asks for. */
export type Command =
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | {
      readonly kind: "single";
      /** The code of `-e`, or null when a file is run. */
      readonly code: string | null;
      /** The file to run, or null with `-e`. */
      readonly file: string | null;
      readonly args: readonly string[];
      readonly configPath: string | null;
    };

export const USAGE = `Usage:
  tsresty [--config FILE] -e CODE [ARGS...]   run TypeScript CODE in a single process (like resty -e)
  tsresty [--config FILE] FILE [ARGS...]      run a .ts/.js file in a single process
  tsresty --help | --version

Options:
  -e CODE          TypeScript to run; top-level await allowed; the global ngx is there
  --config FILE    a config module (export default defineConfig({...})): timer limits, shutdownTimeout
  -h, --help       show this text
  -v, --version    print the version

Everything after CODE's ARGS or FILE is passed to the program as process.argv.slice(2).`;

/**
 * Reads the command line. Options come before the program; the first word that is not an
 * option is the FILE (without -e), and everything after the program belongs to it.
 */
export function parseArgs(argv: readonly string[]): Command {
  let code: string | null = null;
  let configPath: string | null = null;
  let index = 0;
  const value = (flag: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    const next = argv[++index];
    if (next === undefined) throw new UsageError(`option ${flag} needs a value`);
    return next;
  };
  for (; index < argv.length; index++) {
    const arg = argv[index] as string;
    if (arg === "--") {
      index++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    switch (flag) {
      case "-h":
      case "--help":
        return { kind: "help" };
      case "-v":
      case "--version":
        return { kind: "version" };
      case "-e":
        if (code !== null) throw new UsageError("option -e given twice");
        code = value(flag, inline);
        break;
      case "--config":
        if (configPath !== null) throw new UsageError("option --config given twice");
        configPath = value(flag, inline);
        if (configPath === "") throw new UsageError("option --config needs a file name");
        break;
      default:
        throw new UsageError(`unknown option ${flag}`);
    }
  }
  const rest = argv.slice(index);
  if (code !== null) return { kind: "single", code, file: null, args: rest, configPath };
  const [file, ...args] = rest;
  if (file === undefined) throw new UsageError("nothing to run: give -e CODE or a FILE");
  return { kind: "single", code: null, file, args, configPath };
}
