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

/** Waits for the `n`th "serving at" line of `kiln dev` and returns its URL. */
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
      expect(await nthServing(dev, 1)).toBe(base);
      expect((await get(`${base}/_/api/hello`)).body).toBe('{"version":1}');
      // Human-readable log lines in dev, not JSON.
      await dev.waitFor(/request/);
      const requestLine = dev.stdout.split("\n").find((line) => line.includes("request"));
      expect(requestLine).toMatch(/\/_\/api\/hello/);
      expect(() => JSON.parse(requestLine ?? "")).toThrow();

      // 1. A change to a server module is served on the same port.
      writeFiles(dir, {
        "server/hello.ts": `import { httpEndpoint } from "kilnjs";
httpEndpoint("/hello", () => ({ version: 2 }));
`,
      });
      expect(await nthServing(dev, 2)).toBe(base);
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
      expect((await get(`${base}/_/api/hello`)).body).toBe('{"version":2}');

      // 4. Fixing it and changing kiln.yaml (the API prefix) both take effect.
      writeFiles(dir, {
        "server/hello.ts": `import { httpEndpoint } from "kilnjs";
httpEndpoint("/hello", () => ({ version: 3 }));
`,
        "kiln.yaml": "name: live\napi:\n  prefix: /v2\n",
      });
      await nthServing(dev, 4);
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
      expect((await get(`${url}/_/api/hello`)).body).toBe("fixed");
    } finally {
      expect(await dev.stop()).toBe(0);
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
