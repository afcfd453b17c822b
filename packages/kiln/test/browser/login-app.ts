import { cookies, HttpError, HttpResponse, type KilnApp, request, users } from "../../src/index.ts";

/** What a handler saw: the tests compare it with what the browser shows. */
export interface Seen {
  path: string;
  origin: string | null;
  cookieSent: boolean;
  user: string | null;
}

const page = (body: string, status = 200) =>
  new HttpResponse({
    status,
    body: `<!doctype html><html><head><meta charset="utf-8"><title>Kiln demo</title>
<style>body{font:16px system-ui;margin:3rem auto;max-width:24rem}label{display:block;margin:.6rem 0}
input{display:block;width:100%;padding:.4rem}button{margin-top:1rem;padding:.4rem 1.2rem}</style>
</head><body>${body}</body></html>`,
    headers: { "content-type": "text/html; charset=utf-8" },
  });

const LOGIN_FORM = `<h1>Sign in</h1>
<form method="post" action="/_/api/login">
  <label>Email <input name="email" type="email" autocomplete="username" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Sign in</button>
</form>`;

/** The logged-in user's email (from the session, or Basic credentials), or null. */
async function currentEmail(): Promise<string | null> {
  const email = (await users.loadUser())?.email;
  return typeof email === "string" ? email : null;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The example app of the browser tests: a login page (an endpoint returning HTML) whose form
 * logs in with the Users service, and endpoints with each CORS/XSRF setting. `seen` records
 * what each handler saw; `listed` are the origins `/me-shared` trusts.
 */
export function addLoginApp(app: KilnApp, seen: Seen[], listed: readonly string[]): void {
  const record = async () => {
    const entry = {
      path: request.path,
      origin: request.origin,
      cookieSent: typeof request.headers.cookie === "string",
      user: await currentEmail(),
    };
    seen.push(entry);
    return entry;
  };

  app.httpEndpoint("/login", { methods: ["GET", "POST"] }, async ({ email, password }) => {
    if (request.method === "GET") return page(LOGIN_FORM);
    try {
      await users.loginWithEmail(email ?? "", password ?? "");
    } catch {
      return page(`<p id="error">Incorrect email address or password</p>${LOGIN_FORM}`, 401);
    }
    return new HttpResponse({ status: 303, headers: { location: "/_/api/home" } });
  });

  app.httpEndpoint("/home", async () => {
    const email = await currentEmail();
    return page(
      email ? `<h1 id="welcome">Signed in as ${escapeHtml(email)}</h1>` : "<h1>Signed out</h1>",
    );
  });

  // Plain endpoints: for the app's own pages.
  app.httpEndpoint("/me", record);
  app.httpEndpoint("/logout", { methods: ["POST"] }, async () => {
    users.logout();
    return record();
  });
  app.httpEndpoint("/become", { methods: ["POST"] }, async ({ email }) => {
    const user = await users.getUserByEmail(email ?? "");
    if (!user) throw new HttpError(404, "No such user");
    users.forceLogin(user);
    return record();
  });
  app.httpEndpoint("/pref", { methods: ["GET", "POST"] }, ({ value }) => {
    if (value !== undefined) cookies.local.set("pref", value);
    return { pref: cookies.local.get("pref") ?? null };
  });
  app.httpEndpoint("/write", { methods: ["PUT"] }, record);

  // Readable by any origin without credentials; foreign requests run in a fresh session.
  app.httpEndpoint("/me-cors", { crossOrigin: true }, record);
  app.httpEndpoint("/write-cors", { crossOrigin: true, methods: ["PUT"] }, record);
  // Readable by the listed origins with credentials, and run as the browser's user for them.
  app.httpEndpoint("/me-shared", { crossOrigin: listed }, record);
}
