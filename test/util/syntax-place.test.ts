/**
 * The place of a JavaScript module's syntax error, which Node's loader leaves out of an ES
 * module's SyntaxError: real files, real `import()`, real `node --check`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, it } from "node:test";
import { syntaxPlaceOf, withSyntaxPlace } from "../../src/util/syntax-place.ts";
import { scratchDir, writeFiles } from "../helpers/scratch.ts";

/** What importing `entry` in `dir` throws, after `withSyntaxPlace`. */
async function failure(dir: string, entry: string): Promise<{ thrown: unknown; placed: unknown }> {
  const file = join(dir, entry);
  try {
    await import(pathToFileURL(file).href);
  } catch (thrown) {
    return { thrown, placed: withSyntaxPlace(thrown, file) };
  }
  assert.fail(`${entry} loaded`);
}

describe("the place of a syntax error in a JavaScript module", () => {
  const dir = scratchDir("syntax-place");

  it("an ES module's: its file, line and column, as a stack frame; the message and the cause are V8's", async () => {
    writeFiles(dir, { "app.mjs": "export default {\n  fetch() { return 1 }\n  oops here\n};\n" });
    const { thrown, placed } = await failure(dir, "app.mjs");
    // What Node gives: no place at all (Node 20 and 24).
    assert.ok(thrown instanceof SyntaxError);
    assert.doesNotMatch(thrown.stack ?? "", /app\.mjs/);
    assert.ok(placed instanceof SyntaxError);
    assert.equal(placed.message, thrown.message);
    assert.equal(placed.cause, thrown);
    assert.equal(placed.stack, `SyntaxError: ${thrown.message}\n    at ${join(dir, "app.mjs")}:3:3`);
    assert.equal(syntaxPlaceOf(placed), `${join(dir, "app.mjs")}:3`);
  });

  it("in a module imported by a relative path, two imports deep (import, export from, import()): that module's place", async () => {
    writeFiles(dir, {
      "deep.mjs": 'import "./mid.mjs";\nexport default {};\n',
      "mid.mjs":
        'export * from "./ok.mjs";\nexport const later = () => import("./broken.mjs");\nimport "./broken.mjs";\n',
      "ok.mjs": "export const fine = 1;\n",
      "broken.mjs": "export const a = 1;\n\nconst = 2;\n",
    });
    const { placed } = await failure(dir, "deep.mjs");
    assert.equal(syntaxPlaceOf(placed), `${join(dir, "broken.mjs")}:3`);
  });

  it("a CommonJS module's: the place Node puts first in its stack", async () => {
    // (Imported from an ES module instead, Node 20 also leaves the same error rejected and unhandled.)
    writeFiles(dir, {
      "entry.cjs": 'require("./lib.cjs");\n',
      "lib.cjs": "module.exports = {\n a: 1\n b: 2 };\n",
    });
    const { placed } = await failure(dir, "entry.cjs");
    assert.equal(syntaxPlaceOf(placed), `${join(dir, "lib.cjs")}:3`);
  });

  it("a link error (an import of a name the module does not export): the importing line, from Node's report (start said no place)", async () => {
    writeFiles(dir, {
      "importer.mjs": '// first\nimport { fine, nope } from "./ok.mjs";\nexport default { fine, nope };\n',
      "ok.mjs": "export const fine = 1;\n",
    });
    const { thrown, placed } = await failure(dir, "importer.mjs");
    assert.ok(placed instanceof SyntaxError);
    assert.equal(placed.cause, thrown);
    assert.match(placed.message, /does not provide an export named 'nope'/);
    assert.equal(syntaxPlaceOf(placed), `${join(dir, "importer.mjs")}:2`);
  });

  it("leaves alone a SyntaxError thrown by running code (it has its frame), another error, and TypeScript", async () => {
    writeFiles(dir, {
      "json.mjs": 'JSON.parse("{");\n',
      "throws.mjs": 'throw new TypeError("no");\n',
    });
    for (const entry of ["json.mjs", "throws.mjs"]) {
      const { thrown, placed } = await failure(dir, entry);
      assert.equal(placed, thrown, entry);
      assert.equal(syntaxPlaceOf(placed), null, entry);
    }
    const typeScript = new SyntaxError("Unexpected token");
    assert.equal(withSyntaxPlace(typeScript, join(dir, "app.ts")), typeScript);
    assert.equal(withSyntaxPlace("a string", join(dir, "app.mjs")), "a string");
  });
});
