// Which failures to load the native addon are remembered (src/util/addon.ts): the errors below are
// those Node, node-gyp-build and dlopen give.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadFailureLasts } from "../../src/util/addon.ts";

describe("loadFailureLasts", () => {
  it("a shortage of descriptors or memory passes (by its code, or dlopen's text); anything about the build lasts", () => {
    const errno = (code: string, message: string): Error => Object.assign(new Error(message), { code });
    const dlopen = (why: string): Error =>
      errno("ERR_DLOPEN_FAILED", `/srv/app/node_modules/tsresty/build/Release/tsresty_shdict.node: ${why}`);
    const passing = [
      errno("EMFILE", "EMFILE: too many open files, open '/srv/app/node_modules/node-gyp-build/index.js'"),
      errno("ENFILE", "ENFILE: file table overflow, scandir '/srv/app/node_modules/tsresty/prebuilds'"),
      dlopen("cannot open shared object file: Too many open files"),
      dlopen("cannot open shared object file: Too many open files in system"),
      dlopen("failed to map segment from shared object: Cannot allocate memory"),
      // Node 24, out of descriptors as it reads a package.json on the way to the addon
      errno(
        "ERR_INVALID_PACKAGE_CONFIG",
        "Cannot read package config /srv/app/node_modules/tsresty/package.json: too many open files.",
      ),
    ];
    const lasting = [
      new Error(
        "No native build was found for platform=darwin arch=arm64 runtime=node abi=115 uv=1 libc=glibc node=20.20.0",
      ),
      dlopen("invalid ELF header"),
      dlopen("undefined symbol: napi_create_int32"),
      dlopen("cannot open shared object file: No such file or directory"),
      errno("MODULE_NOT_FOUND", "Cannot find module 'node-gyp-build'"),
      "not an error",
      undefined,
    ];
    for (const error of passing) assert.equal(loadFailureLasts(error), false, String(error));
    for (const error of lasting) assert.equal(loadFailureLasts(error), true, String(error));
  });
});
