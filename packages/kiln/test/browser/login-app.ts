import { cookies, HttpResponse, type KilnApp, request, session } from "../../src/index.ts";

/** What the handlers saw, per endpoint: the tests compare it with what the browser shows. */
export interface Seen {
  path: string;
  origin: string | null;
  cookieSent: boolean;
  user: string | null;
}

const html = (body: string) =>
  new HttpResponse({
    body: `<!doctype html><html><head><meta charset="utf-8"><title>Kiln demo</title>
<style>body{font:16px system-ui;margin:3rem auto;max-width:24rem}label{display:block;margin:.6rem 0}
input{display:block;width:100%;padding:.4rem}button{margin-top:1rem;padding:.4rem 1.2rem}</style>
</head><body>${body}</body></html>`,
    headers: { "content-type": "text/html; charset=utf-8" },
  });

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The example app of the browser tests: a login page (an endpoint returning HTML), a login
 * form handler, and endpoints with each CORS/XSRF setting. Who is logged in lives in the
 * session; `seen` records what each handler saw.
 */
export function addLoginApp(app: KilnApp, seen: Seen[]): void {
  const user = () => session.get<string>("user") ?? null;
  const record = () => {
    const entry = {
      path: request.path,
      origin: request.origin,
      cookieSent: typeof request.headers.cookie === "string",
      user: user(),
    };
    seen.push(entry);
    return entry;
  };

  app.httpEndpoint("/login", { methods: ["GET", "POST"] }, ({ email }) => {
    if (request.method === "GET") {
      return html(`<h1>Sign in</h1>
<form method="post" action="/_/api/login">
  <label>Email <input name="email" type="email" autocomplete="username" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Sign in</button>
</form>`);
    }
    // A real app calls users.loginWithEmail(email, password); this one trusts the form.
    session.regenerate();
    session.set("user", email ?? "");
    return new HttpResponse({ status: 303, headers: { location: "/_/api/home" } });
  });

  app.httpEndpoint("/home", () => {
    const name = user();
    return html(
      name ? `<h1 id="welcome">Signed in as ${escapeHtml(name)}</h1>` : "<h1>Signed out</h1>",
    );
  });

  // Plain endpoints: same-origin only.
  app.httpEndpoint("/me", record);
  app.httpEndpoint("/rename", { methods: ["POST"] }, ({ name }) => {
    session.set("user", name ?? "");
    return record();
  });
  app.httpEndpoint("/pref", { methods: ["GET", "POST"] }, ({ value }) => {
    if (value !== undefined) cookies.local.set("pref", value);
    return { pref: cookies.local.get("pref") ?? null };
  });
  app.httpEndpoint("/write", { methods: ["PUT"] }, () => record());

  // Readable by other origins, in a fresh session when they are foreign.
  app.httpEndpoint("/me-cors", { crossOrigin: true }, record);
  app.httpEndpoint("/write-cors", { crossOrigin: true, methods: ["PUT"] }, record);
  // Readable by other origins, with the browser's session.
  app.httpEndpoint("/me-shared", { crossOrigin: true, crossSiteSession: true }, record);
}
