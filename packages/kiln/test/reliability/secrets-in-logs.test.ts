import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cookies, HttpError, request, session, users } from "../../src/index.ts";
import { logCapture } from "../http/test-app.ts";
import { basicAuth, kilnCli, startKiln } from "./kiln-process.ts";
import { head, listeningApp, rawRequest } from "./raw-http.ts";

/**
 * Credentials and secrets never reach the logs. Everything Kiln writes, at the most verbose
 * level, is collected while a client signs up, logs in, fails to log in, is throttled, sends
 * credentials in odd places and makes the app fail; then the text is searched for every
 * secret involved, in every encoding a log line could carry it.
 */

const EMAIL = "ada@example.com";
const PASSWORD = "Secret-Horse-Battery-42";
const WRONG = "Wrong-Guess-Staple-17";
const SECRET = "app-secret-0f1e2d3c4b5a69788796a5b4c3d2e1f0";

/** The forms in which a credential could slip into a log line. */
function forms(secret: string): string[] {
  return [
    secret,
    encodeURIComponent(secret),
    Buffer.from(secret).toString("base64"),
    Buffer.from(secret).toString("base64url"),
  ];
}

function expectAbsent(text: string, secrets: string[]): void {
  expect(text.length).toBeGreaterThan(0);
  for (const secret of secrets) {
    for (const form of forms(secret)) {
      expect(text.includes(form), `a log line holds ${JSON.stringify(form)}`).toBe(false);
    }
  }
}

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe("secrets in logs", () => {
  it("kiln start at LOG_LEVEL=trace logs no password, Authorization header or secret", async () => {
    const data = mkdtempSync(join(tmpdir(), "kiln-logs-"));
    cleanups.push(() => rmSync(data, { recursive: true, force: true }));
    const env = { LOG_LEVEL: "trace", KILN_SECRET: SECRET, DATABASE_URL: undefined };
    const cli = kilnCli(
      ["users", "add", EMAIL, "--password", PASSWORD, "--app", "examples/todo", "--data", data],
      env,
    );
    const server = await startKiln({ data, env });
    cleanups.push(() => server.signal("SIGKILL"));
    const port = Number(new URL(server.url).port);
    const tasks = `${server.url}/_/api/tasks`;

    expect(
      (await fetch(tasks, { headers: { authorization: basicAuth(EMAIL, PASSWORD) } })).status,
    ).toBe(200);
    for (let i = 0; i < 8; i++) {
      // Wrong passwords, an unknown email, until the guessing defence answers 429.
      await fetch(tasks, { headers: { authorization: basicAuth(EMAIL, `${WRONG}${i}`) } });
      await fetch(tasks, { headers: { authorization: basicAuth(`x${EMAIL}`, WRONG) } });
    }
    // Credentials where they do not belong: the query string, a JSON body, a form body.
    await fetch(`${server.url}/_/api/new_task?password=${encodeURIComponent(PASSWORD)}`, {
      method: "POST",
      headers: { authorization: basicAuth(EMAIL, PASSWORD), "content-type": "application/json" },
      body: JSON.stringify({ title: "t", password: PASSWORD }),
    });
    await fetch(`${server.url}/_/api/hello?token=${SECRET}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `password=${PASSWORD}`,
    });
    // Malformed and oversized Authorization headers, answered before any handler runs.
    await rawRequest(
      port,
      head("GET /_/api/tasks HTTP/1.1", { Authorization: `Basic ${PASSWORD}` }),
    );
    const huge = `Basic ${Buffer.from(`${EMAIL}:${PASSWORD}`).toString("base64")}${"A".repeat(20_000)}`;
    expect(
      (await rawRequest(port, head("GET /_/api/tasks HTTP/1.1", { Authorization: huge }))).status,
    ).toBe(431);
    await rawRequest(
      port,
      `GET /_/api/tasks?password=${PASSWORD} HTTP/1.1\r\nAuthorization: Basic ${PASSWORD}\r\nBad Header\r\n\r\n`,
    );

    server.signal("SIGTERM");
    expect((await server.exited).code).toBe(0);
    const log = cli + server.output();
    expect(log).toMatch(/"status":429/); // the throttled path was exercised
    expect(log).toMatch(/client error/);
    expectAbsent(log, [PASSWORD, WRONG, `${EMAIL}:${PASSWORD}`, SECRET]);
    expect(log).not.toMatch(/\$scrypt\$/);
  });

  it("an app's own logs redact credentials, cookies and sessions, even from a 500", async () => {
    const capture = logCapture();
    let cookieValue = "";
    const app = await listeningApp(
      (app) => {
        app.httpEndpoint("/signup", { methods: ["POST"] }, async ({ email, password }) => {
          await users.signupWithEmail(email ?? "", password ?? "");
          return "ok";
        });
        app.httpEndpoint("/login", { methods: ["POST"] }, async ({ email, password }) => {
          await users.loginWithEmail(email ?? "", password ?? "");
          session.set("apiToken", SECRET);
          cookies.local.set("remember", SECRET);
          return "ok";
        });
        app.httpEndpoint("/whoami", { authenticateUsers: true }, () => {
          // What a developer might well log: the headers, and an object holding a password.
          app.log.info(
            { headers: request.headers, user: { email: EMAIL, password: PASSWORD } },
            "who",
          );
          return users.getUser()?.email ?? null;
        });
        app.httpEndpoint("/boom", { authenticateUsers: true }, () => {
          throw new Error("the database fell over");
        });
        app.httpEndpoint("/teapot", () => {
          throw new HttpError(418, "short and stout");
        });
      },
      {
        secret: SECRET,
        logger: { destination: capture.stream, level: "trace" },
        services: { users: { scrypt: { N: 1024, r: 8, p: 1 } } },
      },
    );
    const form = { "content-type": "application/x-www-form-urlencoded" };
    const credentials = `email=${encodeURIComponent(EMAIL)}&password=${encodeURIComponent(PASSWORD)}`;
    expect(
      (await fetch(`${app.url}/_/api/signup`, { method: "POST", headers: form, body: credentials }))
        .status,
    ).toBe(200);
    const login = await fetch(`${app.url}/_/api/login`, {
      method: "POST",
      headers: form,
      body: credentials,
    });
    expect(login.status).toBe(200);
    const setCookies = login.headers.getSetCookie();
    expect(setCookies.length).toBeGreaterThanOrEqual(2);
    const cookieHeader = setCookies.map((c) => c.split(";", 1)[0]).join("; ");
    cookieValue = cookieHeader;
    await fetch(`${app.url}/_/api/login`, {
      method: "POST",
      headers: form,
      body: `email=${encodeURIComponent(EMAIL)}&password=${WRONG}`,
    });
    const withSession = { cookie: cookieHeader, origin: app.url };
    expect((await fetch(`${app.url}/_/api/whoami`, { headers: withSession })).status).toBe(200);
    const basic = { authorization: basicAuth(EMAIL, PASSWORD), cookie: cookieHeader };
    expect((await fetch(`${app.url}/_/api/whoami`, { headers: basic })).status).toBe(200);
    expect((await fetch(`${app.url}/_/api/boom`, { headers: basic })).status).toBe(500);
    expect((await fetch(`${app.url}/_/api/teapot?password=${PASSWORD}`)).status).toBe(418);
    await app.cleanup();

    const text = capture.lines.map((line) => JSON.stringify(line)).join("\n");
    expect(text).toMatch(/Internal error/); // the 500 was logged, with its error
    expect(text).toMatch(/"msg":"who"/);
    const cookieValues = cookieValue.split("; ").map((pair) => pair.slice(pair.indexOf("=") + 1));
    expectAbsent(text, [PASSWORD, WRONG, SECRET, `${EMAIL}:${PASSWORD}`, ...cookieValues]);
    expect(text).not.toMatch(/\$scrypt\$/);
  });
});
