import { setTimeout as sleep } from "node:timers/promises";
import type { Dialect } from "./dialect.ts";
import { TableError } from "./errors.ts";

/** Attempts before a transaction that keeps conflicting gives up with KILN_DATABASE_BUSY. */
export const MAX_ATTEMPTS = 5;

/**
 * Runs fn in a transaction: everything fn does through the data tables (and through the
 * service's `db`) commits together, or not at all if fn throws. A call inside another joins it.
 * When the database reports a conflict (SQLITE_BUSY; a PostgreSQL serialisation failure or
 * deadlock), the whole of fn runs again, up to MAX_ATTEMPTS times, so fn must be safe to
 * repeat (no side effects outside the database).
 */
export async function runInTransaction<T>(dialect: Dialect, fn: () => Promise<T> | T): Promise<T> {
  if (dialect.inTransaction()) return await fn();
  for (let attempt = 1; ; attempt++) {
    try {
      return await dialect.transaction(async () => await fn());
    } catch (error) {
      if (!isConflict(dialect, error)) throw error;
      if (attempt >= MAX_ATTEMPTS) {
        throw new TableError(
          "KILN_DATABASE_BUSY",
          `A transaction conflicted with others ${attempt} times in a row and was given up`,
          {},
          { cause: error },
        );
      }
      // Exponential backoff with jitter, so that the conflicting transactions spread out.
      await sleep(5 * 2 ** attempt * (0.5 + Math.random()));
    }
  }
}

function isConflict(dialect: Dialect, error: unknown): boolean {
  if (dialect.isRetryable(error)) return true;
  if (error instanceof TableError && error.code === "KILN_DATABASE_BUSY") return true;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause !== undefined && dialect.isRetryable(cause);
}
