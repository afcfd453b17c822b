import type { BuiltInTable, ColumnSchema } from "../tables/schema.ts";

/** The internal column that keeps emails unique regardless of case (see `usersTable`). */
export const EMAIL_KEY = "_emailKey";

/**
 * Every app has a `users` table: the Users service keeps its accounts there, and declares it
 * here for the tables service (app/built-in-tables.ts hands it over). kiln.yaml may add more
 * columns under `tables: users:`, and other tables may link to it (`owner: link users`).
 */
export const usersTable: BuiltInTable = {
  name: "users",
  columns: [
    // Every write path (addRow, user.update, CSV import, the Users service) stores it trimmed
    // and refuses what is not an email: login compares against exactly this value.
    { ...column("email", "text"), normalise: normaliseEmail, expected: "an email address" },
    column("enabled", "bool"),
    // Never sent back by accident: toJSON() and CSV exports leave it out.
    column("passwordHash", "text", { secret: true }),
    column("signedUp", "datetime"),
    column("lastLogin", "datetime"),
    column("confirmedEmail", "bool"),
    column("nPasswordFailures", "number"),
  ],
  // Emails are unique regardless of case. The lower-cased copy is computed in JavaScript
  // rather than with SQL `lower()`: SQLite's lower() only folds ASCII while PostgreSQL's
  // follows its locale, and the same two emails must clash (or not) on both.
  internals: [
    {
      name: EMAIL_KEY,
      from: "email",
      derive: emailKey,
      unique: true,
      duplicateNote: "emails are compared ignoring case",
    },
  ],
};

const EMAIL = /^[^\s@]+@[^\s@]+$/;

/**
 * The email to store: trimmed, one `@` with text on both sides and no spaces, at most 254
 * characters; null when it is not an email.
 */
export function normaliseEmail(email: string): string | null {
  const clean = email.trim();
  return EMAIL.test(clean) && clean.length <= 254 ? clean : null;
}

/** The form of an email that uniqueness and the Users service's lookup by email compare. */
export function emailKey(email: unknown): string | null {
  return typeof email === "string" ? email.toLowerCase() : null;
}

function column(
  name: string,
  kind: "text" | "bool" | "datetime" | "number",
  options: { indexed?: boolean; secret?: boolean } = {},
): ColumnSchema {
  return {
    name,
    kind,
    target: null,
    type: kind,
    indexed: options.indexed ?? false,
    secret: options.secret ?? false,
  };
}
