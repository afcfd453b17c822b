import { renameSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { get, runKiln, startKiln, tempFolder, writeFiles } from "./run-kiln.ts";

let tmp: ReturnType<typeof tempFolder>;
beforeAll(() => {
  tmp = tempFolder();
});
afterAll(() => tmp.remove());

const SERVING = /kiln dev: serving at (http:\/\/\S+)/g;

/** Waits for the `n`th "serving at" line of `kiln dev` and returns its URL (API prefix included). */
async function nthServing(dev: ReturnType<typeof startKiln>, n: number): Promise<string> {
  await dev.waitFor(new RegExp(`(?:kiln dev: serving at \\S+[\\s\\S]*){${n}}`), 60_000);
  const urls = [...dev.stderr.matchAll(SERVING)].map((m) => m[1] as string);
  return urls[n - 1] as string;
}

// Long timeouts: each reload starts a process, which a busy machine can make slow.
describe("kiln dev", { timeout: 240_000 }, () => {
  it("reloads on a change to a server module or kiln.yaml, and keeps the last good version when a change fails to load", async () => {
    const dir = join(tmp.dir, "live");
    writeFiles(dir, {
      "kiln.yaml": "name: live\n",
      "server/hello.ts": `import { httpEndpoint } from "kilnjs";
httpEndpoint("/hello", () => ({ version: 1 }));
`,
    });
    const port = await freePort();
    const dev = startKiln(["dev", dir, "--port", String(port)]);
    try {
      const base = `http://127.0.0.1:${port}`;
      // The URL printed is the API's, prefix included: what a newcomer pastes into curl.
      expect(await nthServing(dev, 1)).toBe(`${base}/_/api`);
      expect((await get(`${base}/_/api/hello`)).body).toBe('{"version":1}');
      // Human-readable log lines in dev, not JSON.
      await dev.waitFor(/request/);
      const requestLine = dev.stdout.split("\n").find((line) => line.includes("request"));
      expect(requestLine).toMatch(/\/_\/api\/hello/);
      expect(() => JSON.parse(requestLine ?? "")).toThrow();
      // Output that goes to a pipe or a file carries no colour codes.
      expect(dev.stdout + dev.stderr).not.toContain("\u001b[");

      // 1. A change to a server module is served on the same port.
      writeFiles(dir, {
        "server/hello.ts": `import { httpEndpoint } from "kilnjs";
httpEndpoint("/hello", () => ({ version: 2 }));
`,
      });
      expect(await nthServing(dev, 2)).toBe(`${base}/_/api`);
      expect((await get(`${base}/_/api/hello`)).body).toBe('{"version":2}');

      // Changes outside kiln.yaml and server/ (notes, the data folder, node_modules) do not
      // reload, and neither does editor litter inside server/.
      writeFiles(dir, {
        "README.md": "notes",
        ".kiln/scratch.txt": "x",
        "node_modules/x/index.js": "",
        "server/.hello.ts.swp": "x",
      });
      await sleep(500);
      expect(dev.stderr.match(/changed, reloading/g)).toHaveLength(1);

      // 2. A new module in a new sub-folder is picked up.
      writeFiles(dir, {
        "server/admin/ping.ts": `import { httpEndpoint } from "kilnjs";
httpEndpoint("/admin/ping", () => "pong");
`,
      });
      await nthServing(dev, 3);
      expect((await get(`${base}/_/api/admin/ping`)).body).toBe("pong");

      // 3. A broken change: reported with its reason; the previous version keeps serving.
      writeFiles(dir, { "server/hello.ts": "export const broken = {;\n" });
      const [failure] = await dev.waitFor(/kiln dev: reload failed \((.*)\); still serving.*/);
      expect(failure).toMatch(/hello\.ts:1:\d+: ERROR/);
      // Reported once, by kiln dev: not a second time by the child under "kiln start:".
      expect(dev.stderr).not.toContain("kiln start:");
      expect(dev.stderr.match(/hello\.ts:1:\d+: ERROR/g)).toHaveLength(1);
      expect((await get(`${base}/_/api/hello`)).body).toBe('{"version":2}');

      // 4. Fixing it and changing kiln.yaml (the API prefix) both take effect.
      writeFiles(dir, {
        "server/hello.ts": `import { httpEndpoint } from "kilnjs";
httpEndpoint("/hello", () => ({ version: 3 }));
`,
        "kiln.yaml": "name: live\napi:\n  prefix: /v2\n",
      });
      expect(await nthServing(dev, 4)).toBe(`${base}/v2`);
      expect((await get(`${base}/v2/hello`)).body).toBe('{"version":3}');

      // 5. A bad kiln.yaml is reported with its line, and the last good version serves on.
      writeFiles(dir, { "kiln.yaml": "name: live\napi: [\n" });
      const [yamlFailure] = await dev.waitFor(/kiln dev: reload failed \(.*kiln\.yaml:\d+.*/);
      expect(yamlFailure).toMatch(/still serving the previous version/);
      expect((await get(`${base}/v2/hello`)).body).toBe('{"version":3}');
    } finally {
      expect(await dev.stop()).toBe(0);
    }
    // The app process went away with kiln dev.
    await expect(get(`http://127.0.0.1:${port}/_/health`)).rejects.toMatchObject({
      code: "ECONNREFUSED",
    });
  });

  it("an app that fails to start is reported, and served once it is fixed", async () => {
    const dir = join(tmp.dir, "fixme");
    writeFiles(dir, {
      "kiln.yaml": "name: fixme\n",
      "server/hello.ts": `throw new Error("not yet");\n`,
    });
    const dev = startKiln(["dev", dir, "--port", "0"]);
    try {
      const [line] = await dev.waitFor(/kiln dev: the app failed to start \(.*\); waiting.*/);
      expect(line).toMatch(/not yet/);
      writeFiles(dir, {
        "server/hello.ts": `import { httpEndpoint } from "kilnjs";\nhttpEndpoint("/hello", () => "fixed");\n`,
      });
      const url = await nthServing(dev, 1);
      expect((await get(`${url}/hello`)).body).toBe("fixed");
    } finally {
      expect(await dev.stop()).toBe(0);
    }
  });

  it("keeps reloading a file that editors save by writing a new file and renaming it over the old one", async () => {
    const dir = join(tmp.dir, "atomic");
    const module = (version: number) =>
      `import { httpEndpoint } from "kilnjs";\nhttpEndpoint("/v", () => ${version});\n`;
    writeFiles(dir, { "kiln.yaml": "name: atomic\n", "server/nested/v.ts": module(1) });
    const dev = startKiln(["dev", dir, "--port", "0"]);
    try {
      const url = await nthServing(dev, 1);
      expect((await get(`${url}/v`)).body).toBe("1");
      // As vim, JetBrains and `sed -i` save: write a temporary file, rename it over the old.
      for (const version of [2, 3, 4]) {
        const file = join(dir, "server/nested/v.ts");
        writeFileSync(`${file}.tmp~`, module(version));
        renameSync(`${file}.tmp~`, file);
        const next = await nthServing(dev, version);
        expect((await get(`${next}/v`)).body).toBe(String(version));
      }
      // kiln.yaml saved the same way.
      writeFileSync(join(dir, "kiln.yaml.new"), "name: atomic\napi:\n  prefix: /x\n");
      renameSync(join(dir, "kiln.yaml.new"), join(dir, "kiln.yaml"));
      expect(await nthServing(dev, 5)).toMatch(/\/x$/);
    } finally {
      expect(await dev.stop()).toBe(0);
    }
  });

  it("a port already in use is a one-line error and exit 1, not a wait for a change", async () => {
    const dir = join(tmp.dir, "busy");
    writeFiles(dir, { "kiln.yaml": "name: busy\n" });
    const blocker = createServer();
    await new Promise<void>((listening) => blocker.listen(0, "127.0.0.1", listening));
    const { port } = blocker.address() as { port: number };
    try {
      const { code, stderr } = await runKiln(["dev", dir, "--port", String(port)], {
        timeoutMs: 120_000,
      });
      expect(code).toBe(1);
      expect(stderr).toBe(
        `kiln dev: port ${port} is already in use (choose another with --port)\n`,
      );
    } finally {
      blocker.close();
    }
  });

  it("a missing folder is a one-line error, exit 1 (as for kiln start)", async () => {
    const missing = join(tmp.dir, "no-such-app");
    const { code, stderr } = await runKiln(["dev", missing]);
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(`kiln dev: App folder not found: ${missing}`);
  });
});

function freePort(): Promise<number> {
  return new Promise((done) => {
    const probe = createServer();
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => done(port));
    });
  });
}
