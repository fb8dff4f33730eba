/**
 * `singleton: "cluster"`: each tick of a timer runs in exactly one process of all the masters that
 * share one Redis (config `coordinator`). Every process arms the timer on the same epoch grid; when
 * a tick is due, each asks Redis to claim it (scripts.ts, CLAIM): the first SET NX of the tick's key
 * wins and runs the tick. Claims are per tick, so a slow or dead process can never hold later ticks,
 * and a process that wakes late cannot run a tick another one ran: the key outlives the tick
 * (`claimTtl`).
 *
 * Fencing: a won claim gets a token from a counter that only grows (one per timer). A job that writes
 * elsewhere can pass the token along and have the store refuse writes older than the newest it saw,
 * so a process that stalled past its tick cannot overwrite a later run's work (ngx.timer.current()).
 * The counter expires once its name is unused (keepTtl), and one made anew starts at Redis's clock
 * in microseconds (scripts.ts): above every token before, also after Redis lost its data.
 *
 * Clocks: the claim is judged against Redis's clock. A host whose clock is more than half a claim's
 * lifetime away from Redis's is refused (and says so, once): it can never run a tick twice, it only
 * stops running ticks until its clock is right. Within that bound any skew is harmless.
 *
 * Redis down: a claim fails at once (no offline queue); the tick is skipped, never run later to
 * catch up. The client reconnects with backoff; the loss and the return are logged once each.
 */
import { Redis } from "ioredis";
import { escapeForLog } from "../util/log.ts";
import { withTimeout } from "../util/timeout.ts";
import { CLAIM, LAST_RUN } from "./scripts.ts";
import { claimTtl, keepTtl } from "./ttl.ts";
import { redactedUrl } from "./url.ts";

/** How long a claim may wait for Redis's answer before the tick is skipped. */
const COMMAND_TIMEOUT_MS = 5_000;
/** What a rediss:// URL whose handshake goes unanswered is told to check. */
const TLS_QUESTION = "a rediss:// URL speaks TLS: is TLS on at that port?";

export type CoordinatorLog = (level: "warn" | "notice" | "error", message: string) => void;

export interface RedisGateOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…`. */
  readonly url: string;
  /** Namespace of every key (default "tsresty"). */
  readonly keyPrefix?: string;
  readonly log: CoordinatorLog;
  /** Who claims (shown as the claim's value): host and pid by default. */
  readonly owner?: string;
}

export class RedisGate {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #owner: string;
  readonly #log: CoordinatorLog;
  readonly #fences = new Map<string, number>();
  /** Names whose last run is recorded (catchUp timers): the only ones that read it. */
  readonly #kept = new Set<string>();
  #down = false;
  #skewed = false;
  /** Why this connection cannot be used (the server refused the URL's database), or null. */
  #badDb: string | null = null;
  /** The connection's last error, for the claims that fail while it is not up. */
  #lastError: string | null = null;
  readonly #url: string;
  /** A rediss:// URL: the connection starts with a TLS handshake. */
  readonly #tls: boolean;
  /** Whether a connection was ever ready: a reset after that is no sign of a TLS mismatch. */
  #everReady = false;
  /** Settles once the first connection is made, or gives up (the first claims wait for it). */
  readonly #connected: Promise<void>;

  constructor(options: RedisGateOptions) {
    this.#prefix = options.keyPrefix ?? "tsresty";
    this.#owner = options.owner ?? `${process.pid}`;
    this.#log = options.log;
    this.#url = redactedUrl(options.url);
    this.#tls = options.url.startsWith("rediss:");
    this.#redis = new Redis(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // A Redis that stops answering (stopped, partitioned) fails a claim instead of holding it,
      // and with it a graceful exit, which waits for claims that are out.
      commandTimeout: COMMAND_TIMEOUT_MS,
      // ioredis's own backoff, capped at 2 s.
      retryStrategy: (times) => Math.min(times * 100, 2_000),
    });
    const lost = (why: string): void => {
      if (this.#down) return;
      this.#down = true;
      this.#log(
        "error",
        `coordinator ${this.#url} unreachable (${why}); ticks of cluster timers are skipped until it is back`,
      );
    };
    this.#redis.on("error", (error: Error) => {
      // ioredis also emits its own ready check's failure on a connection that just broke ("Stream
      // isn't writeable and enableOfflineQueue options is false"): it says nothing of why, and
      // would replace the reason (a server that is not Redis: "Protocol error, got "H" …").
      const why = this.#withTlsHint(error.message);
      if (this.#lastError === null || !error.message.includes("enableOfflineQueue")) {
        this.#lastError = why;
      }
      // ioredis selects the URL's database on each connection and, when the server refuses it,
      // says so here and goes on in db 0: this gate refuses to work until a connection selects it.
      if (error.message.includes("DB index is out of range")) {
        this.#badDb = `coordinator ${this.#url}: the server has no database ${options.url.replace(/^.*\//, "")} (${error.message})`;
      }
      lost(why);
    });
    this.#redis.on("connect", () => {
      this.#badDb = null;
      this.#lastError = null;
    });
    // A connection that was up and closed (Redis stopped) says so before the first reconnect fails.
    this.#redis.on("close", () => {
      if (this.#redis.status === "end") return;
      this.#lastError ??= "connection closed";
      lost("connection closed");
    });
    this.#redis.on("ready", () => {
      this.#everReady = true;
      if (!this.#down || this.#badDb !== null) return;
      this.#down = false;
      this.#log("notice", `coordinator ${this.#url} is back; cluster timers run again`);
    });
    this.#connected = this.#redis.connect().catch(() => undefined); // the "error" event has said it
  }

  /** Whether this process runs tick `due` of timer `name`. Rejects when Redis cannot answer. */
  async claim(name: string, due: number, intervalMs: number): Promise<boolean> {
    await this.#usable();
    const ttl = claimTtl(intervalMs);
    const token = (await this.#redis.eval(
      CLAIM,
      2,
      this.#key(name, `tick:${due}`),
      this.#key(name, "fence"),
      this.#owner,
      String(ttl),
      String(due),
      String(ttl / 2),
      String(keepTtl(intervalMs)),
    )) as number;
    if (token === -1) {
      if (!this.#skewed) {
        this.#skewed = true;
        this.#log(
          "warn",
          `timer "${escapeForLog(name)}": by Redis's clock its tick is more than ${ttl / 2000} s away: this host's clock is off, or this process was held up (stopped, swapping); such ticks are not run`,
        );
      }
      return false;
    }
    this.#skewed = false;
    if (token > 0) this.#fences.set(`${name}\n${due}`, token);
    return token > 0;
  }

  /** The fencing token of a tick this process claimed (null when it did not claim it). */
  fence(name: string, due: number): number | null {
    return this.#fences.get(`${name}\n${due}`) ?? null;
  }

  settled(name: string, due: number, ok: boolean): void {
    this.#fences.delete(`${name}\n${due}`);
    // A tick that did not run (or whose run threw) is not the last run: catchUp may replay it.
    // Only a catchUp timer's runs are recorded: a key kept for every name stayed in Redis for
    // ever (it cannot expire: catchUp reads it after any stop), and cost each tick a round trip.
    if (!ok || this.#badDb !== null || !this.#kept.has(name)) return;
    this.#redis.eval(LAST_RUN, 1, this.#key(name, "last"), String(due)).catch(() => undefined);
  }

  /** The catchUp timer `name` was made here: the runs of `name` this process settles are recorded. */
  keep(name: string): void {
    this.#kept.add(name);
  }

  /** The last tick of `name` that ran anywhere (for catchUp), or null. */
  async lastRun(name: string): Promise<number | null> {
    this.keep(name);
    await this.#usable();
    const value = await this.#redis.get(this.#key(name, "last"));
    return value === null ? null : Number(value);
  }

  /**
   * Waits for the first connection (a command before it would be refused: no offline queue);
   * throws when the server refused the URL's database, whose commands would go to db 0.
   */
  async #usable(): Promise<void> {
    // "connect": the socket is up, not yet "ready" (ioredis's own handshake): still the first wait.
    // Bounded like any command: a server that accepts and never answers (stopped, hung) holds
    // the handshake ~10 s (CLIENT SETINFO, then INFO, each under the command timeout), and a
    // graceful exit waits for the claims that are out.
    const { status } = this.#redis;
    if (status === "wait" || status === "connecting" || status === "connect") {
      const first = await withTimeout(this.#connected, COMMAND_TIMEOUT_MS);
      if (!first.done) {
        // Still "connecting" on a rediss:// URL: the TLS handshake is unanswered, which is what a
        // Redis without TLS on that port does (it waits for the end of a command line).
        const hint = this.#tls && this.#redis.status === "connecting" ? `; ${TLS_QUESTION}` : "";
        throw new Error(
          `coordinator ${this.#url} unreachable (no answer in ${COMMAND_TIMEOUT_MS / 1000} s${hint})`,
        );
      }
    }
    if (this.#badDb !== null) throw new Error(this.#badDb);
    // Not up: a command would fail with ioredis's "Stream isn't writeable …", which hides why.
    if (this.#redis.status !== "ready") {
      throw new Error(
        `coordinator ${this.#url} unreachable (${this.#lastError ?? `connection ${this.#redis.status}`})`,
      );
    }
  }

  async close(): Promise<void> {
    try {
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
  }

  /**
   * A connection error, with what to check when it looks like a TLS mismatch before any connection
   * was ready: a Redis with TLS on that port resets a connection that does not start with a
   * handshake, and one without TLS never answers a handshake (ioredis gives up after 10 s).
   */
  #withTlsHint(message: string): string {
    if (this.#everReady) return message;
    if (!this.#tls && message.includes("ECONNRESET")) {
      return `${message}; if the server speaks TLS on that port, the URL must be rediss://`;
    }
    if (this.#tls && message.includes("ETIMEDOUT")) return `${message}; ${TLS_QUESTION}`;
    return message;
  }

  #key(name: string, what: string): string {
    // The timer's name in braces: a Redis Cluster keeps all of a timer's keys on one node.
    return `${this.#prefix}:{${name}}:${what}`;
  }
}
