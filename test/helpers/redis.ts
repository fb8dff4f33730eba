import { spawn, type ChildProcess } from "node:child_process";
import { after } from "node:test";
import { freePort } from "./ports.ts";

const servers = new Set<ChildProcess>();
// At the top level, so the hook is the file's (inside a test it would be that test's only).
after(() => {
  for (const child of servers) child.kill("SIGKILL");
});

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcess;
  /** Stops it (SIGKILL by pid) and resolves once it is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same port (an empty Redis: nothing is saved). */
  restart(): Promise<RedisServer>;
}

/**
 * A real redis-server of its own on a free loopback port, saving nothing, stopped by pid in
 * after() at the latest. Debian's `redis-server` must be installed (.ci/run installs it). With
 * `tls` (PEM files) that port speaks TLS only (`url` is still redis://: tests choose the scheme).
 */
export async function startRedis(port?: number, tls?: { cert: string; key: string }): Promise<RedisServer> {
  const chosen = port ?? (await freePort());
  const tlsArgs =
    tls === undefined
      ? []
      : [
          "--port",
          "0",
          "--tls-port",
          String(chosen),
          "--tls-cert-file",
          tls.cert,
          "--tls-key-file",
          tls.key,
        ].concat(["--tls-ca-cert-file", tls.cert, "--tls-auth-clients", "no"]);
  const child = spawn(
    "redis-server",
    [
      "--port",
      String(chosen),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--protected-mode",
      "yes",
      ...tlsArgs,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  servers.add(child);
  child.on("exit", () => servers.delete(child));
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000);
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${String(code)}:\n${out}`));
    });
  });
  const server: RedisServer = {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          resolve();
          return;
        }
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
    restart: async () => {
      await server.stop();
      return startRedis(chosen, tls);
    },
  };
  return server;
}
