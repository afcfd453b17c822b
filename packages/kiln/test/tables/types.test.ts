import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.ts";

const REPO = resolve(import.meta.dirname, "../../../..");
const dir = mkdtempSync(join(tmpdir(), "kiln-types-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = `import { q, tables } from "kilnjs";

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
  return [title, done, due, email, tags, open.length, byName?.title, user?.enabled];
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
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          allowImportingTsExtensions: true,
          types: ["node"],
          typeRoots: [join(REPO, "node_modules/@types")],
          paths: { kilnjs: [join(REPO, "packages/kiln/src/index.ts")] },
        },
        include: ["server", "kiln-env.d.ts"],
      }),
    );
    const tsc = join(REPO, "node_modules/typescript/bin/tsc");
    const output = await promisify(execFile)(process.execPath, [tsc, "-p", dir], { cwd: dir }).then(
      () => "",
      (error: { stdout: string }) => error.stdout,
    );
    const errors = [...output.matchAll(/^(server\/\w+\.ts)\((\d+),\d+\): error (TS\d+)/gm)].map(
      ([, file, line]) => `${file}:${line}`,
    );
    expect(errors, output).toEqual([4, 5, 6, 7, 8, 9, 10].map((line) => `server/bad.ts:${line}`));
  }, 180_000);
});
