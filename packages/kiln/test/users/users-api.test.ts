import { afterEach, describe, expect, it } from "vitest";
import { HttpError, session } from "../../src/index.ts";
import { type TestDialect, testDialects } from "../support/dialects.ts";
import { Browser, basic, type UsersTestApp, users, usersAppOn } from "./users-test-app.ts";

let app: UsersTestApp;
afterEach(() => app?.cleanup());

const ADA = "ada@example.com";
const PW = "correct horse";

/** An app with sign-up, login, logout and a page that needs a logged-in user. */
async function loginApp(dialect: TestDialect, more?: (app: UsersTestApp) => void) {
  app = await usersAppOn(dialect);
  app.httpEndpoint("/signup", { methods: ["POST"] }, async ({ email, password }) => {
    const user = await users.signupWithEmail(email ?? "", password ?? "");
    return { email: user.email, current: users.getUser()?.email };
  });
  app.httpEndpoint("/login", { methods: ["POST"] }, async ({ email, password }) => {
    const user = await users.loginWithEmail(email ?? "", password ?? "");
    return { email: user.email, current: users.getUser()?.email };
  });
  app.httpEndpoint("/logout", { methods: ["POST"] }, () => users.logout());
  app.httpEndpoint("/me", { authenticateUsers: true }, () => ({ email: users.getUser()?.email }));
  app.httpEndpoint("/maybe", async () => ({
    sync: users.getUser()?.email ?? null,
    loaded: (await users.loadUser())?.email ?? null,
  }));
  more?.(app);
  await app.ready();
  return app;
}

const form = (fields: Record<string, string>) => ({
  headers: { "content-type": "application/x-www-form-urlencoded" },
  payload: new URLSearchParams(fields).toString(),
});

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: users API`, () => {
    it("signs up, stores a salted scrypt hash, and refuses a second account for the same email in any case", async () => {
      app = await usersAppOn(dialect);
      await app.ready();
      const ada = await users.addUser(ADA, PW);
      expect(ada.email).toBe(ADA);
      expect(ada.enabled).toBe(true);
      expect(ada.confirmedEmail).toBe(false);
      expect(ada.nPasswordFailures).toBe(0);
      expect(ada.signedUp).toBeInstanceOf(Date);
      expect(ada.passwordHash).toMatch(/^\$scrypt\$N=1024,r=8,p=1\$/);
      await expect(users.addUser("ADA@example.com", PW)).rejects.toMatchObject({
        code: "KILN_USER_EXISTS",
        status: 409,
      });
    });

    it("refuses a malformed email or a short password with a 400 that says why", async () => {
      app = await usersAppOn(dialect);
      await app.ready();
      await expect(users.addUser("not-an-email", PW)).rejects.toMatchObject({
        code: "KILN_INVALID_CREDENTIALS",
        status: 400,
      });
      await expect(users.addUser(ADA, "short")).rejects.toThrow(/at least 8 characters/);
    });

    it("outside a request, loginWithEmail says to use checkPassword, which checks the password", async () => {
      app = await usersAppOn(dialect);
      await app.ready();
      await app.users.addUser(ADA, PW, {});
      await expect(app.users.loginWithEmail(ADA, PW)).rejects.toMatchObject({
        code: "KILN_NO_REQUEST",
        message: expect.stringContaining("users.checkPassword"),
      });
      expect((await app.users.checkPassword("Ada@Example.com", PW)).email).toBe(ADA);
      await expect(app.users.checkPassword(ADA, "wrong")).rejects.toMatchObject({
        code: "KILN_AUTHENTICATION_FAILED",
        status: 401,
      });
      await expect(app.users.checkPassword("eve@example.com", PW)).rejects.toMatchObject({
        code: "KILN_AUTHENTICATION_FAILED",
      });
    });

    it("keeps the app's own users columns", async () => {
      app = await usersAppOn(dialect, { tables: { users: { name: "text" } } });
      await app.ready();
      const ada = await users.addUser(ADA, PW, { name: "Ada Lovelace" });
      expect((await users.getUserByEmail(ADA))?.name).toBe("Ada Lovelace");
      expect(ada.name).toBe("Ada Lovelace");
    });

    it("getUser() outside a request is KILN_NO_REQUEST, saying it needs one", async () => {
      app = await usersAppOn(dialect);
      expect(() => app.users.getUser()).toThrow(
        expect.objectContaining({
          code: "KILN_NO_REQUEST",
          message: expect.stringContaining("users.getUser()"),
        }),
      );
    });

    it("the session's user is the handler's user on any endpoint; a requireAuth principal stays request.user", async () => {
      await loginApp(dialect, (a) => {
        a.httpEndpoint("/open", (_, { user }) => ({ user: user?.email ?? null }));
        a.httpEndpoint(
          "/ops",
          { requireAuth: (_u, password) => password === "ops-pw" && { ops: true } },
          (_, { user, request }) => ({ user: user?.email ?? null, principal: request.user }),
        );
      });
      await app.users.addUser(ADA, PW);
      const browser = new Browser(app);
      expect((await browser.send("/_/api/open")).json()).toEqual({ user: null });
      await browser.send("/_/api/login", { method: "POST", ...form({ email: ADA, password: PW }) });
      expect((await browser.send("/_/api/open")).json()).toEqual({ user: ADA });
      const ops = await browser.send("/_/api/ops", { headers: basic("x", "ops-pw") });
      expect(ops.json()).toEqual({ user: ADA, principal: { ops: true } });
    });

    it("a login in a browser session carries over to authenticateUsers endpoints, until logout", async () => {
      await loginApp(dialect);
      await users.addUser(ADA, PW);
      const browser = new Browser(app);
      expect((await browser.send("/_/api/me")).statusCode).toBe(401);
      const login = await browser.send("/_/api/login", {
        method: "POST",
        ...form({ email: ADA, password: PW }),
      });
      expect(login.json()).toEqual({ email: ADA, current: ADA });
      const me = await browser.send("/_/api/me");
      expect(me.statusCode).toBe(200);
      expect(me.json()).toEqual({ email: ADA });
      // The session's user on an endpoint without authenticateUsers too, synchronously.
      expect((await browser.send("/_/api/maybe")).json()).toEqual({ sync: ADA, loaded: ADA });
      // Checked as authenticateUsers checks a session: a disabled account is nobody at once.
      await (await app.users.getUserByEmail(ADA))!.update({ enabled: false });
      expect((await browser.send("/_/api/maybe")).json()).toEqual({ sync: null, loaded: null });
      await (await app.users.getUserByEmail(ADA))!.update({ enabled: true });
      await browser.send("/_/api/logout", { method: "POST" });
      expect((await browser.send("/_/api/me")).statusCode).toBe(401);
    });

    it("a login gives the browser a new session id (no fixation)", async () => {
      await loginApp(dialect);
      await users.addUser(ADA, PW);
      const browser = new Browser(app);
      await browser.send("/_/api/signup", {
        method: "POST",
        ...form({ email: "bob@example.com", password: "bob's password" }),
      });
      // The session cookie (signing up also gave the browser a device cookie).
      const before = [...browser.cookies].filter(([name]) => name.startsWith("kiln-session."));
      expect(before.length).toBe(1);
      await browser.send("/_/api/login", { method: "POST", ...form({ email: ADA, password: PW }) });
      const [name, value] = before[0]!;
      expect(browser.cookies.get(name)).toBeDefined();
      expect(browser.cookies.get(name)).not.toBe(value);
      expect((await browser.send("/_/api/me")).json()).toEqual({ email: ADA });
    });

    it("signupWithEmail in a request logs the new user in", async () => {
      await loginApp(dialect);
      const browser = new Browser(app);
      const res = await browser.send("/_/api/signup", {
        method: "POST",
        ...form({ email: ADA, password: PW }),
      });
      expect(res.json()).toEqual({ email: ADA, current: ADA });
      expect((await browser.send("/_/api/me")).json()).toEqual({ email: ADA });
    });

    it("signupWithEmail in a request records the login in lastLogin; outside one it stays empty", async () => {
      await loginApp(dialect);
      const res = await app.inject({
        method: "POST",
        url: "/_/api/signup",
        ...form({ email: ADA, password: PW }),
      });
      expect(res.statusCode).toBe(200);
      const ada = await users.getUserByEmail(ADA);
      expect(ada!.lastLogin).toBeInstanceOf(Date);
      expect(ada!.lastLogin!.getTime()).toBe(ada!.signedUp!.getTime());
      const bob = await users.signupWithEmail("bob@example.com", PW);
      expect(bob.lastLogin ?? null).toBeNull();
    });

    it("a disabled user's session is refused at once", async () => {
      await loginApp(dialect);
      await users.addUser(ADA, PW);
      const browser = new Browser(app);
      await browser.send("/_/api/login", { method: "POST", ...form({ email: ADA, password: PW }) });
      await (await users.getUserByEmail(ADA))!.update({ enabled: false });
      expect((await browser.send("/_/api/me")).statusCode).toBe(401);
    });

    it("a failed login answers 401 with one message for every reason", async () => {
      await loginApp(dialect);
      await users.addUser(ADA, PW);
      const wrong = await app.inject({
        method: "POST",
        url: "/_/api/login",
        ...form({ email: ADA, password: "x" }),
      });
      const unknown = await app.inject({
        method: "POST",
        url: "/_/api/login",
        ...form({ email: "eve@example.com", password: PW }),
      });
      expect(wrong.statusCode).toBe(401);
      expect(wrong.body).toBe(unknown.body);
      expect(wrong.json().error).toBe("Incorrect email address or password");
    });

    it("a cross-site request does not see the logged-in session", async () => {
      await loginApp(dialect);
      await users.addUser(ADA, PW);
      const browser = new Browser(app);
      await browser.send("/_/api/login", { method: "POST", ...form({ email: ADA, password: PW }) });
      const res = await browser.send("/_/api/me", { headers: { origin: "https://evil.example" } });
      // Refused outright (403), and without WWW-Authenticate: a foreign page must not make the
      // browser prompt for, or replay, a password.
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error: expect.stringContaining("another site") });
      expect(res.headers["www-authenticate"]).toBeUndefined();
    });

    it("forceLogin logs a user in without a password", async () => {
      app = await usersAppOn(dialect);
      app.httpEndpoint("/as/:email", async ({ email }) => {
        const user = await users.getUserByEmail(email);
        if (!user) throw new HttpError(404, "no such user");
        users.forceLogin(user);
        return { current: users.getUser()?.email, session: session.get("_kiln_user") === user.id };
      });
      app.httpEndpoint("/me", { authenticateUsers: true }, () => ({
        email: users.getUser()?.email,
      }));
      await app.ready();
      await users.addUser(ADA, PW);
      const browser = new Browser(app);
      expect((await browser.send(`/_/api/as/${ADA}`)).json()).toEqual({
        current: ADA,
        session: true,
      });
      expect((await browser.send("/_/api/me")).json()).toEqual({ email: ADA });
    });

    it("Basic credentials that fail are a 401 even when the session holds a user", async () => {
      await loginApp(dialect);
      await users.addUser(ADA, PW);
      const browser = new Browser(app);
      await browser.send("/_/api/login", { method: "POST", ...form({ email: ADA, password: PW }) });
      const res = await browser.send("/_/api/me", { headers: basic(ADA, "wrong") });
      expect(res.statusCode).toBe(401);
    });
  });
}
