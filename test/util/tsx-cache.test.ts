/**
 * guardCompileCache's rule, on real directories: tsx's disk cache stays on only in a directory
 * that is the process's user's own and no one else can write; as root it is always off.
 * (test/e2e/operations.test.ts runs a tree as root beside a cache another user planted.)
 */
import assert from "node:assert/strict";
import { chmodSync, chownSync, lstatSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { guardCompileCache } from "../../src/util/tsx-cache.ts";
import { scratchDir } from "../helpers/scratch.ts";
import { ROOT_ONLY } from "../helpers/processes.ts";

/** This process's uid, and one that is not this process's (a directory chowned to it is someone else's). */
const OWN = process.geteuid?.() ?? 0;
const OTHER = OWN === 65534 ? 65533 : 65534;

describe("tsx's compile cache (util/tsx-cache.ts)", () => {
  it("as root it is off, whatever the directory", () => {
    const temporary = scratchDir("tmp");
    mkdirSync(join(temporary, "tsx-0"), { mode: 0o700 });
    const env: NodeJS.ProcessEnv = {};
    assert.equal(guardCompileCache(env, 0, temporary), null);
    assert.equal(env["TSX_DISABLE_CACHE"], "1");
  });

  it("an explicit TSX_DISABLE_CACHE is left as the user set it", () => {
    const env: NodeJS.ProcessEnv = { TSX_DISABLE_CACHE: "" };
    assert.equal(guardCompileCache(env, OWN === 0 ? 1000 : OWN, scratchDir("tmp")), null);
    assert.equal(env["TSX_DISABLE_CACHE"], "");
  });

  it("for another user: a missing directory is made, mode 0700, and the cache stays on", () => {
    const temporary = scratchDir("tmp");
    const uid = OWN === 0 ? OTHER : OWN;
    if (OWN === 0) {
      // Root makes it as root's: made as that user it is theirs, which this test cannot be.
      // What counts here is that it is made with no one else's write, and then judged by owner.
      const env: NodeJS.ProcessEnv = {};
      const said = guardCompileCache(env, uid, temporary);
      assert.equal((lstatSync(join(temporary, `tsx-${uid}`)).mode & 0o777).toString(8), "700");
      assert.match(said ?? "", new RegExp(`belongs to uid 0, not to this process's uid ${uid}`));
      return;
    }
    const env: NodeJS.ProcessEnv = {};
    assert.equal(guardCompileCache(env, uid, temporary), null);
    assert.equal(env["TSX_DISABLE_CACHE"], undefined);
    assert.equal((lstatSync(join(temporary, `tsx-${uid}`)).mode & 0o777).toString(8), "700");
  });

  it("a directory of the user's, writable by no one else, keeps it on", ROOT_ONLY, () => {
    const temporary = scratchDir("tmp");
    const cache = join(temporary, `tsx-${OTHER}`);
    mkdirSync(cache, { mode: 0o755 });
    chownSync(cache, OTHER, OTHER);
    const env: NodeJS.ProcessEnv = {};
    assert.equal(guardCompileCache(env, OTHER, temporary), null);
    assert.equal(env["TSX_DISABLE_CACHE"], undefined);
  });

  it(
    "someone else's directory, one others can write, a link, or someone else's old `tsx` turn it off, saying why",
    ROOT_ONLY,
    () => {
      const cases: [string, (temporary: string) => void, RegExp][] = [
        [
          "another user's",
          (t) => {
            mkdirSync(join(t, `tsx-${OTHER}`), { mode: 0o700 });
            chownSync(join(t, `tsx-${OTHER}`), 0, 0);
          },
          new RegExp(`tsx-${OTHER} belongs to uid 0, not to this process's uid ${OTHER}`),
        ],
        [
          "writable by others",
          (t) => {
            mkdirSync(join(t, `tsx-${OTHER}`));
            chownSync(join(t, `tsx-${OTHER}`), OTHER, OTHER);
            chmodSync(join(t, `tsx-${OTHER}`), 0o777);
          },
          new RegExp(`tsx-${OTHER} can be written by others \\(mode 777\\)`),
        ],
        [
          "a symbolic link",
          (t) => {
            mkdirSync(join(t, "elsewhere"));
            symlinkSync(join(t, "elsewhere"), join(t, `tsx-${OTHER}`));
          },
          new RegExp(`tsx-${OTHER} is not a directory`),
        ],
        [
          "tsx's old directory, another user's",
          (t) => {
            mkdirSync(join(t, `tsx-${OTHER}`), { mode: 0o700 });
            chownSync(join(t, `tsx-${OTHER}`), OTHER, OTHER);
            mkdirSync(join(t, "tsx"));
          },
          new RegExp(`/tsx belongs to uid 0, not to this process's uid ${OTHER}`),
        ],
      ];
      for (const [what, make, reason] of cases) {
        const temporary = scratchDir("tmp");
        make(temporary);
        const env: NodeJS.ProcessEnv = {};
        const said = guardCompileCache(env, OTHER, temporary);
        assert.equal(env["TSX_DISABLE_CACHE"], "1", what);
        assert.match(said ?? "", reason, what);
        assert.match(said ?? "", /^tsx's compile cache is off: /, what);
      }
    },
  );
});
