import { describe, expect, it } from "vitest";
import { KilnError } from "../../src/index.ts";
import { testDialects } from "../support/dialects.ts";
import { tablesApp } from "./tables-test-app.ts";

for (const dialect of await testDialects()) {
  describe(`${dialect.name}: the users table`, () => {
    it("every app has a users table with the built-in columns, plus the app's own", async () => {
      const { tables } = await tablesApp(dialect, { users: { nickname: "text" } });
      const signedUp = new Date("2025-01-01T00:00:00Z");
      const user = await tables.users.addRow({
        email: "ada@example.com",
        enabled: true,
        passwordHash: "hash",
        signedUp,
        lastLogin: null,
        confirmedEmail: false,
        nPasswordFailures: 0,
        nickname: "Ada",
      });
      const read = await tables.users.getById(user.id);
      expect(read).toMatchObject({
        email: "ada@example.com",
        enabled: true,
        passwordHash: "hash",
        nickname: "Ada",
      });
      expect(read!.signedUp).toEqual(signedUp);
    });

    it("an app that declares no tables still has users", async () => {
      const { tables } = await tablesApp(dialect, {});
      await tables.users.addRow({ email: "a@example.com" });
      expect(await tables.users.search().count()).toBe(1);
    });

    it("emails are unique ignoring case: KILN_DUPLICATE_VALUE on add and on update", async () => {
      const { tables } = await tablesApp(dialect, {});
      await tables.users.addRow({ email: "Ada@Example.com" });
      const bob = await tables.users.addRow({ email: "bob@example.com" });
      const error = await tables.users
        .addRow({ email: "ada@EXAMPLE.COM" })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KilnError);
      expect(error).toMatchObject({
        code: "KILN_DUPLICATE_VALUE",
        table: "users",
        column: "email",
        message:
          "users.email: another row already has this value (emails are compared ignoring case)",
      });
      expect(await bob.update({ email: "ADA@example.com" }).catch((e: unknown) => e)).toMatchObject(
        {
          code: "KILN_DUPLICATE_VALUE",
        },
      );
      expect((await tables.users.getById(bob.id))!.email).toBe("bob@example.com");
      await tables.users.addRow({ email: null });
      await tables.users.addRow({});
      expect(await tables.users.search().count()).toBe(4);
    });

    it("a duplicate email caught inside inTransaction leaves the transaction usable", async () => {
      const { tables, inTransaction } = await tablesApp(dialect, {});
      await tables.users.addRow({ email: "ada@example.com" });
      await inTransaction(async () => {
        const error = await tables.users
          .addRow({ email: "ADA@example.com" })
          .catch((e: unknown) => e);
        expect(error).toMatchObject({ code: "KILN_DUPLICATE_VALUE" });
        await tables.users.addRow({ email: "bob@example.com" });
      });
      expect(await tables.users.search().count()).toBe(2);
    });

    it("getUserByEmail finds the user whatever the case, and only an exact address", async () => {
      const { app, tables } = await tablesApp(dialect, {});
      const ada = await tables.users.addRow({ email: "Ada_L@Example.com" });
      await tables.users.addRow({ email: "adaxl@example.com" });
      expect((await app.users.getUserByEmail("ada_l@example.COM"))!.equals(ada)).toBe(true);
      expect(await app.users.getUserByEmail("ada%@example.com")).toBeNull();
      expect(await app.users.getUserByEmail("nobody@example.com")).toBeNull();
      await ada.update({ email: "new@example.com" });
      expect(await app.users.getUserByEmail("ada_l@example.com")).toBeNull();
      expect((await app.users.getUserByEmail("NEW@example.com"))!.equals(ada)).toBe(true);
    });

    it("passwordHash stays out of toJSON and CSV exports", async () => {
      const { tables } = await tablesApp(dialect, {});
      const user = await tables.users.addRow({
        email: "a@example.com",
        passwordHash: "scrypt$secret",
      });
      expect(JSON.stringify(user)).not.toContain("scrypt$secret");
      expect((await tables.users.toCsv()).getText()).not.toContain("scrypt$secret");
      expect(user.passwordHash).toBe("scrypt$secret");
    });

    it("redeclaring a built-in column with another type is a config error", async () => {
      const error = await tablesApp(dialect, { users: { email: "number" } }).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: "KILN_BAD_CONFIG" });
      expect((error as Error).message).toBe(
        "kiln.yaml: tables.users.email: users.email is built in as text",
      );
    });

    it("restating a built-in column with its type keeps it where it was, built in", async () => {
      const { service, tables } = await tablesApp(dialect, {
        users: { nickname: "text", email: "text", enabled: "bool" },
      });
      expect(service.table("users").columns.map((c) => c.name)).toEqual([
        "email",
        "enabled",
        "passwordHash",
        "signedUp",
        "lastLogin",
        "confirmedEmail",
        "nPasswordFailures",
        "nickname",
      ]);
      // Still checked and still unique ignoring case, as the built-in column is.
      await expect(tables.users.addRow({ email: "not an email" })).rejects.toMatchObject({
        code: "KILN_BAD_VALUE",
      });
      await tables.users.addRow({ email: "ada@example.com" });
      await expect(tables.users.addRow({ email: "ADA@example.com" })).rejects.toMatchObject({
        code: "KILN_DUPLICATE_VALUE",
      });
    });
  });
}
