import { execFile } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.ts";

const REPO = resolve(import.meta.dirname, "../../../..");
const dir = mkdtempSync(join(tmpdir(), "kiln-types-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = `import { q, type Row, tables, type UserRow, users } from "kilnjs";

export async function good() {
  const task = await tables.tasks.addRow({ title: "x", done: false, due: "2025-01-01", owner: null });
  const title: string | null = task.title;
  const done: boolean | null = task.done;
  const due: string | null = task.due;
  const email: string | null = task.owner ? task.owner.email : null;
  const tags: string[] = task.tags.map((tag) => tag.id);
  const open = await tables.tasks.search({ done: false, title: q.like("x%") }, { orderBy: "title" }).toArray();
  await task.update({ done: true, tags: [] });
  const byName = await tables.get("tasks").getById(task.id);
  const user = await tables.users.get({ email: "ada@example.com" });
  // Typed rows, users' rows included, are Rows: code written for any table accepts them.
  const describe = (row: Row) => row.id;
  const ids = [...open.map(describe), ...(user ? [describe(user)] : [])];
  const me: UserRow | null = users.getUser();
  const rows: Row[] = me ? [task, me] : [task];
  if (user) users.forceLogin(user);
  return [title, done, due, email, tags, byName?.title, user?.enabled, ids, rows];
}
`;

// Each line from 4 on has exactly one mistake the compiler must catch.
const BAD = `import { tables } from "kilnjs";
export async function bad() {
  const task = await tables.tasks.addRow({ title: "x" });
  task.titel;
  await tables.tasks.addRow({ titel: "x" });
  tables.tasks.search({ dne: true });
  const n: number = task.title;
  tables.taks.search();
  await task.update({ done: "yes" });
  tables.tasks.search({}, { orderBy: "titel" });
  return n;
}
`;

/** Runs tsc on the app folder with this tsconfig; the errors as `file:line`, and tsc's output. */
async function typeErrors(tsconfig: object): Promise<{ errors: string[]; output: string }> {
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig));
  const tsc = join(REPO, "node_modules/typescript/bin/tsc");
  const output = await promisify(execFile)(process.execPath, [tsc, "-p", dir], { cwd: dir }).then(
    () => "",
    (error: { stdout: string }) => error.stdout,
  );
  // Every error counts, wherever it is: in the app, in Kiln's files or in a dependency's.
  const errors = [...output.matchAll(/^(\S+?)\((\d+),\d+\): error (TS\d+)/gm)].map(
    ([, file, line]) => `${file}:${line}`,
  );
  return { errors, output };
}

const STRICT = {
  target: "ES2022",
  module: "NodeNext",
  moduleResolution: "NodeNext",
  strict: true,
  noEmit: true,
  skipLibCheck: false,
  allowImportingTsExtensions: true,
  types: ["node"],
  typeRoots: [join(REPO, "node_modules/@types")],
};

const BAD_LINES = [4, 5, 6, 7, 8, 9, 10].map((line) => `server/bad.ts:${line}`);

describe("kiln types", () => {
  it("writes declarations that type rows, and a misspelled column fails to compile", async () => {
    writeFileSync(
      join(dir, "kiln.yaml"),
      "name: typed\ntables:\n  tasks:\n    title: text\n    done: bool\n    due: date\n    owner: link users\n    tags: links tags\n  tags:\n    name: { type: text, index: true }\n",
    );
    expect(await main(["types", dir])).toBe(0);
    expect(readFileSync(join(dir, "kiln-env.d.ts"), "utf8")).toContain('owner: "link users";');
    mkdirSync(join(dir, "server"));
    writeFileSync(join(dir, "server", "good.ts"), GOOD);
    writeFileSync(join(dir, "server", "bad.ts"), BAD);
    // The walkthrough's To-Do API, whose `(task: Row) => ...` must accept typed rows.
    copyFileSync(join(REPO, "examples/todo/server/tasks.ts"), join(dir, "server", "todo.ts"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(join(REPO, "packages/kiln"), join(dir, "node_modules", "kilnjs"), "dir");
    const include = ["server", "kiln-env.d.ts"];

    // As an app sees Kiln: its built declaration files, checked too (no skipLibCheck).
    const built = await typeErrors({ compilerOptions: STRICT, include });
    expect(built.errors, built.output).toEqual(BAD_LINES);

    // Kiln's own sources compiled with the app's typed tables (users.ts meets a typed `users`).
    const paths = { kilnjs: [join(REPO, "packages/kiln/src/index.ts")] };
    const sources = await typeErrors({ compilerOptions: { ...STRICT, paths }, include });
    expect(sources.errors, sources.output).toEqual(BAD_LINES);
  }, 180_000);
});
