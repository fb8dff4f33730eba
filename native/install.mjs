#!/usr/bin/env node
// The package's install step: node-gyp-build, which keeps a prebuild that fits this platform
// (prebuilds/, shipped in the package) or else builds the addon from source with node-gyp.
// One addition: when no nodedir is configured and the running Node's own headers are
// installed beside it (<prefix>/include/node, as in Node's tarballs and distribution
// packages) for this exact version, node-gyp is pointed at them, so that a build from source
// downloads nothing (machines that reach only a package registry can still build).
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const prefix = dirname(dirname(process.execPath));
const header = join(prefix, "include", "node", "node_version.h");

function headersMatch() {
  if (!existsSync(header)) return false;
  const text = readFileSync(header, "utf8");
  const part = (name) => new RegExp(`#define ${name} (\\d+)`).exec(text)?.[1];
  const version = `v${part("NODE_MAJOR_VERSION")}.${part("NODE_MINOR_VERSION")}.${part("NODE_PATCH_VERSION")}`;
  return version === process.version;
}

if (!process.env.npm_config_nodedir && headersMatch()) process.env.npm_config_nodedir = prefix;
createRequire(import.meta.url)("node-gyp-build/bin.js");
