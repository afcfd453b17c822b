import type { DestinationStream } from "pino";

/** What a batch is handed to: pino's sonic-boom destination. */
export interface BatchTarget extends DestinationStream {
  flush?(cb?: (error?: Error) => void): void;
  flushSync?(): void;
}

/**
 * Gathers log lines and hands them to `target` 4 KiB (or 100 ms) at a time. sonic-boom can
 * batch by itself (`minLength`), but it measures its pending buffer (`Buffer.byteLength` of one
 * growing string, flattened each time) on every line: a cost that grows with the batch, paid by
 * every request's log line. Here a line costs an array push; the join happens once per batch.
 * Lines keep their order: every line of the logger, the request lines and the app's, goes
 * through the same batch.
 */
export class LogBatch implements DestinationStream {
  readonly #target: BatchTarget;
  readonly #minLength: number;
  readonly #maxDelayMs: number;
  #parts: string[] = [];
  #size = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(target: BatchTarget, options: { minLength?: number; maxDelayMs?: number } = {}) {
    this.#target = target;
    this.#minLength = options.minLength ?? 4096;
    this.#maxDelayMs = options.maxDelayMs ?? 100;
    const ref = new WeakRef(this);
    live.add(ref);
    forget.register(this, ref);
  }

  write(line: string): void {
    this.#parts.push(line);
    this.#size += line.length;
    if (this.#size >= this.#minLength) this.#drain();
    else if (this.#timer === null) {
      this.#timer = setTimeout(this.#onTimer, this.#maxDelayMs);
      this.#timer.unref();
    }
  }

  /** pino's `logger.flush(cb)`: what is gathered goes to the target, which flushes it. */
  flush(cb?: (error?: Error) => void): void {
    this.#drain();
    if (this.#target.flush) this.#target.flush(cb);
    else cb?.();
  }

  flushSync(): void {
    this.#drain();
    this.#target.flushSync?.();
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    this.#drain();
  };

  #drain(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#size === 0) return;
    const chunk = this.#parts.length === 1 ? (this.#parts[0] as string) : this.#parts.join("");
    this.#parts = [];
    this.#size = 0;
    this.#target.write(chunk);
  }
}

/**
 * Batches still alive, handed to their targets when the process exits. This listener is
 * registered when this module loads, before pino registers its own exit flush of the
 * destination: so the last lines reach the destination before pino writes it out.
 */
const live = new Set<WeakRef<LogBatch>>();
const forget = new FinalizationRegistry<WeakRef<LogBatch>>((ref) => live.delete(ref));
process.on("exit", () => {
  for (const ref of live) {
    try {
      ref.deref()?.flushSync();
    } catch {
      // Nothing more can be done for lines at exit (a closed descriptor).
    }
  }
});
