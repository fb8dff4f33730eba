// The first module bin/tsresty imports: tsresty runs on Node.js 20.19 or later (package.json
// "engines"), and its bundles read Node's builtins with process.getBuiltinModule (Node 20.16+).
// On an older Node that is said in one line, not as a TypeError from inside a bundle.
if (typeof process.getBuiltinModule !== "function") {
  process.stderr.write(`tsresty needs Node.js 20.19 or later; this is Node.js ${process.version}\n`);
  process.exit(1);
}
