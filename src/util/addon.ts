/**
 * The one loader of tsresty's native addon (native/): node-gyp-build picks the prebuild shipped
 * in the package (prebuilds/<platform>-<arch>/) or, in a checkout, the local build
 * (build/Release). Nothing else in tsresty loads native/. Its users: the shared dictionaries
 * (src/shdict/native.ts: zones, and the master's few system calls) and ngx.pipe
 * (src/pipe/spawn-child.ts: children started without fork()).
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

let loaded: object | undefined;
/** The file `loaded` came from, or the one to load (useAddonFile). */
let file: string | null = null;

/**
 * Names the addon file this process is to load: the one the master made its zones with (each
 * zone reference carries it), so that both sides map a zone with the same build, and a child
 * need not search for it (node-gyp-build's search costs a booting process ~7 ms). Takes effect
 * only before the addon is loaded.
 */
export function useAddonFile(path: string): void {
  if (loaded === undefined) file = path;
}

/** The addon file of this process, loading the addon if it is not yet loaded. */
export function addonFile(): string {
  loadAddon();
  return file as string;
}

/**
 * The addon's exports, loaded on first use (a Node environment has one instance), so that
 * processes that need none of it never load it. Throws where it cannot be loaded (not Linux;
 * in a checkout, not built).
 */
export function loadAddon(): object {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url);
    file ??= (require("node-gyp-build") as { path(dir: string): string }).path(root);
    loaded = require(file) as object;
  }
  return loaded;
}

/** errno codes, and their texts as dlopen(3) gives them, of a shortage that may be over by the next try. */
const SHORTAGES = new Map([
  ["EMFILE", "Too many open files"],
  ["ENFILE", "Too many open files in system"],
  ["ENOMEM", "Cannot allocate memory"],
  ["EAGAIN", "Resource temporarily unavailable"],
]);

/**
 * Whether `error`, thrown by loadAddon, will be thrown again by a later try: anything but a
 * shortage of the moment (the descriptors or the memory to open and map the file; dlopen's error
 * has only the text, and so has Node 24's when the shortage hits its read of a package.json:
 * `ERR_INVALID_PACKAGE_CONFIG`, "…: too many open files."). A process short of descriptors at its
 * first use of the addon can load it once some are given back; one without a build for its
 * platform, or with a broken one, cannot.
 */
export function loadFailureLasts(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === "string" && SHORTAGES.has(code)) return false;
  const text = typeof message === "string" ? message.toLowerCase() : "";
  return ![...SHORTAGES.values()].some((shortage) => text.includes(`: ${shortage.toLowerCase()}`));
}
