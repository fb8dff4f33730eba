/** The listening sockets the master sent a worker, by index: it accepts once it has all. */
import type { Service } from "./service.ts";

export class Listening {
  readonly #handles: object[] = [];
  #count = -1;
  #started = false;

  /** One socket of `count`, sent as the handle of a "listen" message. */
  add(index: number, count: number, handle: object): void {
    this.#count = count;
    this.#handles[index] = handle;
  }

  /** Starts `service` accepting on them, once, when all have come; `fail` ends the worker. */
  start(service: Service, fail: (reason: string) => void): void {
    const complete = this.#count >= 0 && this.#handles.filter(Boolean).length === this.#count;
    if (!complete || this.#started) return;
    this.#started = true;
    service.listen(this.#handles, fail);
  }
}
