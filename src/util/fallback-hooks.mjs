// The resolve hook of util/loader.ts for Nodes without module.registerHooks (before 22.15), run
// on the loader thread: "tsresty" (and its subpaths) resolve as usual, and where nothing
// provides them, to the copy of tsresty that runs the process.
let ownParent = "";

export function initialize({ parentURL }) {
  ownParent = parentURL;
}

export async function resolve(specifier, context, nextResolve) {
  if (specifier !== "tsresty" && !specifier.startsWith("tsresty/")) return nextResolve(specifier, context);
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code !== "ERR_MODULE_NOT_FOUND") throw error;
    return nextResolve(specifier, { ...context, parentURL: ownParent });
  }
}
