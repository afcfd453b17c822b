import { afterEach, describe, expect, it } from "vitest";
import { testDialects } from "../support/dialects.ts";
import { type UsersTestApp, usersAppOn } from "./users-test-app.ts";

let app: UsersTestApp;
afterEach(() => app?.cleanup());

const PW = "correct horse";

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: writing users`, () => {
    it("the users table's email is checked and trimmed on every write path", async () => {
      app = await usersAppOn(dialect);
      await app.ready();
      const ada = await app.users.addUser("ada@example.com", PW);
      // user.update({ email }) used to store anything, which login then matched as typed.
      for (const write of [
        () => ada.update({ email: "bogus" }),
        () => ada.update({ email: "two words@example.com" }),
        () => app.tables.users.addRow({ email: "bogus" }),
        () => app.tables.users.addRows([{ email: "ok@example.com" }, { email: "@example.com" }]),
      ]) {
        await expect(write()).rejects.toMatchObject({
          code: "KILN_BAD_VALUE",
          table: "users",
          column: "email",
          message: expect.stringMatching(/^users\.email is an email address: got "/),
        });
      }
      expect((await app.tables.users.getById(ada.id))!.email).toBe("ada@example.com");
      expect(await app.tables.users.search().count()).toBe(1);
      await ada.update({ email: "  Ada.Lovelace@Example.com " });
      expect(ada.email).toBe("Ada.Lovelace@Example.com");
      expect((await app.users.getUserByEmail("ada.lovelace@example.com"))?.id).toBe(ada.id);
      const row = await app.tables.users.addRow({ email: " grace@example.com\n" });
      expect((await app.tables.users.getById(row.id))!.email).toBe("grace@example.com");
      // Users without an email stay possible (rows added by the app for its own reasons).
      await app.tables.users.addRow({ email: null });
    });

    it("a sign-up inside inTransaction hashes before its transaction takes the database", async () => {
      // A real scrypt cost, so the hash takes long enough to overlap the other write.
      app = await usersAppOn(dialect, {
        services: { users: { scrypt: { N: 16384, r: 8, p: 1 } } },
        tables: { notes: { text: "text" } },
      });
      await app.ready();
      const order: string[] = [];
      const signup = app.inTransaction(async () => {
        const user = await app.users.signupWithEmail("ada@example.com", PW);
        order.push("signup");
        return user;
      });
      // By the next turn of the event loop the transaction has started and the hash is running.
      await new Promise((resolve) => setImmediate(resolve));
      await app.tables.notes.addRow({ text: "unrelated" });
      order.push("unrelated write");
      await signup;
      expect(order).toEqual(["unrelated write", "signup"]);
      expect(await app.tables.users.search().count()).toBe(1);
    });
  });
}
