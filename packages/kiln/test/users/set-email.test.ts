import { afterEach, describe, expect, it } from "vitest";
import { testDialects } from "../support/dialects.ts";
import { basic, type UsersTestApp, users, usersAppOn } from "./users-test-app.ts";

/* users.setEmail through real HTTP, on SQLite and PostgreSQL. */

const PW = "correct horse";
let app: UsersTestApp | undefined;
afterEach(async () => {
  await app?.cleanup();
  app = undefined;
});

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: users.setEmail`, () => {
    async function start() {
      app = await usersAppOn(dialect);
      app.httpEndpoint(
        "/me/email",
        { methods: ["PUT"], authenticateUsers: true },
        async (_params, { body }) => {
          await users.setEmail(users.getUser()!, (body as { email: string }).email);
          return { email: users.getUser()!.email };
        },
      );
      app.httpEndpoint("/me", { authenticateUsers: true }, () => users.getUser()!.email);
      const url = `${await app.listen({ port: 0 })}/_/api`;
      await users.addUser("ada@example.com", PW);
      await users.addUser("bob@example.com", PW);
      return url;
    }
    const put = (url: string, as: string, email: unknown) =>
      fetch(`${url}/me/email`, {
        method: "PUT",
        headers: { ...basic(as, PW), "content-type": "application/json" },
        body: JSON.stringify({ email }),
      });

    it("changes the email: the new one logs in, the old one no longer does", async () => {
      const url = await start();
      const res = await put(url, "ada@example.com", "  ada@lovelace.example ");
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ email: "ada@lovelace.example" });
      const me = (as: string) => fetch(`${url}/me`, { headers: basic(as, PW) });
      expect((await me("ADA@Lovelace.example")).status).toBe(200);
      expect((await me("ada@example.com")).status).toBe(401);
    });

    it("refuses another user's email in any case with 409, and keeps both accounts as they were", async () => {
      const url = await start();
      const res = await put(url, "ada@example.com", "BOB@Example.com");
      expect(res.status).toBe(409);
      expect(await res.json()).toEqual({
        error: "A user with the email address BOB@Example.com already exists",
      });
      expect((await users.getUserByEmail("ada@example.com"))?.email).toBe("ada@example.com");
      expect((await users.getUserByEmail("bob@example.com"))?.email).toBe("bob@example.com");
    });

    it("allows changing only the case of one's own email", async () => {
      const url = await start();
      expect((await put(url, "ada@example.com", "Ada@Example.com")).status).toBe(200);
      expect((await users.getUserByEmail("ada@example.com"))?.email).toBe("Ada@Example.com");
    });

    it("refuses what is not an email with 400", async () => {
      const url = await start();
      for (const email of ["", "no-at-sign", "a b@example.com", 42]) {
        const res = await put(url, "ada@example.com", email);
        expect(res.status, String(email)).toBe(400);
      }
      expect((await users.getUserByEmail("ada@example.com"))?.email).toBe("ada@example.com");
    });
  });
}
