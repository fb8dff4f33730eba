// Module hooks of single mode, registered before tsx's (so tsx's `load`, which runs first, asks
// these for the source and then transforms it as TypeScript):
// - the code of `tsresty -e` is served as the module `<cwd>/[eval].ts`, so imports inside it
//   resolve from the cwd. Its source arrives on a MessagePort, possibly after the first `load`.
// - a TypeScript FILE is always loaded as an ES module (its URL carries `?tsresty-esm`), so that
//   top-level await works whatever the nearest package.json says about "type".
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const sources = new Map();
const waiting = new Map();
const ESM_MARK = "tsresty-esm";
// Where Node strips types itself (22.10+), tsx leaves a TypeScript module to it: say it is one.
const TS_MODULE = process.features.typescript ? "module-typescript" : "module";

export function initialize({ port }) {
  port.on("message", ({ url, source }) => {
    sources.set(url, source);
    waiting.get(url)?.(source);
    waiting.delete(url);
  });
  port.unref();
}

function isEvalURL(url) {
  return url.startsWith("file:") && url.includes("/%5Beval%5D.ts");
}

function isMarkedESM(url) {
  return url.startsWith("file:") && new URL(url).searchParams.has(ESM_MARK);
}

export async function resolve(specifier, context, nextResolve) {
  if (isEvalURL(specifier)) return { url: specifier, format: "module", shortCircuit: true };
  if (isMarkedESM(specifier)) return { url: specifier, format: "module", shortCircuit: true };
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (isMarkedESM(url)) {
    const file = new URL(url);
    file.search = "";
    return { format: TS_MODULE, source: await readFile(fileURLToPath(file), "utf8"), shortCircuit: true };
  }
  if (!isEvalURL(url)) return nextLoad(url, context);
  const source = sources.get(url) ?? (await new Promise((done) => waiting.set(url, done)));
  return { format: "module", source, shortCircuit: true };
}
