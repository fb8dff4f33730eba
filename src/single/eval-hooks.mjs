// Module hooks that serve the code of `tsresty -e` as a module of the current directory.
// Registered before tsx's hooks, so tsx's `load` (which runs first) asks these for the
// source and transforms it as TypeScript; imports inside the code resolve from the cwd.
// The source arrives on a MessagePort, possibly after the first `load` call for it.

const sources = new Map();
const waiting = new Map();

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

export async function resolve(specifier, context, nextResolve) {
  if (isEvalURL(specifier)) return { url: specifier, format: "module", shortCircuit: true };
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (!isEvalURL(url)) return nextLoad(url, context);
  const source = sources.get(url) ?? (await new Promise((done) => waiting.set(url, done)));
  return { format: "module", source, shortCircuit: true };
}
