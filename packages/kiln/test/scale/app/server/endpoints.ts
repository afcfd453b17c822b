import { cookies, httpEndpoint, request, tables, users } from "kilnjs";

/*
 * Endpoints that let the scale tests see which process answered (`pid`) and drive the shared
 * state (sessions, passwords, rows) from one process while reading it from another.
 */

const auth = { authenticateUsers: true } as const;
const pid = process.pid;

httpEndpoint("/pid", () => ({ pid }));

/** Answers after `ms` milliseconds: an in-flight request for the graceful-stop tests. */
httpEndpoint("/slow", async ({ ms }) => {
  await new Promise((wait) => setTimeout(wait, Number(ms ?? 1000)));
  return { pid };
});

/** Creates an account and logs it in (the session cookie comes back). */
httpEndpoint("/signup", { methods: ["POST"] }, async ({ email, password }) => {
  const user = await users.signupWithEmail(email ?? "", password ?? "");
  return { email: user.email, pid };
});

/** A browser-style login: the session cookie it sets is what the other process must accept. */
httpEndpoint("/login", { methods: ["POST"] }, async ({ email, password }) => {
  const user = await users.loginWithEmail(email ?? "", password ?? "");
  return { email: user.email, pid };
});

/** Basic credentials or the session's user. */
httpEndpoint("/me", auth, () => ({ email: users.getUser()?.email ?? null, pid }));

/** Sets the caller's password (form field `password`). */
httpEndpoint("/password", { ...auth, methods: ["POST"] }, async ({ password }) => {
  const user = users.getUser();
  if (user) await users.setPassword(user, password ?? "");
  return { pid };
});

/** Adds a note owned by the caller; lists the caller's notes. */
httpEndpoint("/notes", { ...auth, methods: ["GET", "POST"] }, async ({ text }) => {
  const owner = users.getUser();
  if (request.method === "POST") {
    const note = await tables.notes.addRow({ text: text ?? "", owner });
    return { id: note.id, pid };
  }
  const notes = await tables.notes.search({ owner }).toArray();
  return notes.map((note) => note.text);
});

/** An encrypted cookie (keyed by KILN_SECRET): set by one process, read by another. */
httpEndpoint("/cookie", async ({ value }) => {
  if (value !== undefined) cookies.local.set("remembered", value);
  return { value: cookies.local.get("remembered") ?? null, pid };
});
