import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { get, runKiln, SERVING, startKiln, tempFolder, writeFiles } from "./run-kiln.ts";

let tmp: ReturnType<typeof tempFolder>;
beforeAll(() => {
  tmp = tempFolder();
});
afterAll(() => tmp.remove());

describe("kiln new", { timeout: 120_000 }, () => {
  it("scaffolds an app folder that kiln start serves as is", async () => {
    const created = await runKiln(["new", "my-api"], { cwd: tmp.dir });
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/Created my-api in .*my-api/);
    const dir = join(tmp.dir, "my-api");
    expect(readdirSync(dir).sort()).toEqual(
      expect.arrayContaining([
        ".gitignore",
        "kiln.yaml",
        "package.json",
        "server",
        "tsconfig.json",
      ]),
    );
    expect(readFileSync(join(dir, "kiln.yaml"), "utf8")).toMatch(/^name: my-api$/m);

    const server = startKiln(["start", "my-api", "--port", "0"], { cwd: tmp.dir });
    try {
      const [, url] = await server.waitFor(SERVING);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/_\/api$/);
      expect(await get(`${url}/hello`)).toEqual({ status: 200, body: '{"the answer is":42}' });
      expect((await get(`${url}/hello/W%C3%B6rld`)).body).toBe("Hello, Wörld!");
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it("refuses a folder that is not empty (exit 1) and a missing DIR (exit 2)", async () => {
    writeFiles(tmp.dir, { "occupied/file.txt": "mine" });
    const [occupied, missing] = await Promise.all([
      runKiln(["new", "occupied"], { cwd: tmp.dir }),
      runKiln(["new"], { cwd: tmp.dir }),
    ]);
    expect(occupied.code).toBe(1);
    expect(occupied.stderr.trim()).toBe(
      "kiln new: occupied already exists and is not empty; nothing was written",
    );
    expect(readdirSync(join(tmp.dir, "occupied"))).toEqual(["file.txt"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^kiln new: missing DIR/);
  });
});

describe("kiln start", { timeout: 120_000 }, () => {
  const app = () => join(tmp.dir, "served");
  beforeAll(() => {
    writeFiles(app(), {
      "kiln.yaml": "name: served\n",
      "server/endpoints.ts": `import { httpEndpoint } from "kilnjs";
httpEndpoint("/hello", () => ({ hello: "world" }));
httpEndpoint("/slow", async () => {
  console.error("slow request started");
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return "finished";
});
`,
    });
  });

  it("serves with --host and --data, logs one JSON line per request on stdout", async () => {
    const data = join(tmp.dir, "data-elsewhere");
    const server = startKiln([
      "start",
      app(),
      "--port",
      "0",
      "--host",
      "localhost",
      "--data",
      data,
    ]);
    try {
      const [, url] = await server.waitFor(SERVING);
      expect(url).toMatch(/^http:\/\/localhost:\d+\/_\/api$/);
      expect((await get(`${url}/hello?x=1`)).body).toBe('{"hello":"world"}');
      expect((await get(`${url}/nope`)).status).toBe(404);
      const health = await get(url.replace("/_/api", "/_/health"));
      expect(health.status).toBe(200);
      await server.waitFor(/"path":"\/_\/health"/);

      const requests = server.stdout
        .split("\n")
        .filter((line) => line.includes('"msg":"request"'))
        .map((line) => JSON.parse(line));
      expect(requests.map(({ method, path, status }) => [method, path, status])).toEqual([
        ["GET", "/_/api/hello", 200],
        ["GET", "/_/api/nope", 404],
        ["GET", "/_/health", 200],
      ]);
      for (const line of requests) expect(line.ms).toBeTypeOf("number");

      // --data: the secret key lives there, readable by its owner only.
      const key = join(data, "secret.key");
      expect(existsSync(key)).toBe(true);
      expect(statSync(key).mode & 0o777).toBe(0o600);
      expect(existsSync(join(app(), ".kiln"))).toBe(false);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  // An app folder often has no package.json. Its .ts modules are ES modules on every Node.js
  // version: on 22 and 24 they used to become CommonJS, where top-level await fails and, on
  // 22, `import "kilnjs"` did too ("... is from a module not been linked").
  it("loads the TypeScript modules of a folder without package.json as ES modules", async () => {
    const dir = join(tmp.dir, "no-package-json");
    writeFiles(dir, {
      "kiln.yaml": "name: plain\n",
      "server/module.ts": `import { httpEndpoint } from "kilnjs";
const kind = await Promise.resolve(typeof require === "undefined" ? "module" : "commonjs");
httpEndpoint("/kind", () => ({ kind, url: import.meta.url.endsWith("/server/module.ts") }));
`,
    });
    const server = startKiln(["start", dir, "--port", "0"]);
    try {
      const [, url] = await server.waitFor(SERVING);
      expect((await get(`${url}/kind`)).body).toBe('{"kind":"module","url":true}');
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it("takes the port from PORT, and from --app", async () => {
    const port = await freePort();
    const server = startKiln(["start", "--app", app()], { env: { PORT: String(port) } });
    try {
      const [, url] = await server.waitFor(SERVING);
      expect(url).toBe(`http://127.0.0.1:${port}/_/api`);
    } finally {
      await server.stop();
    }
  });

  it("SIGTERM lets an in-flight request finish, refuses new connections, then exits 0", async () => {
    const server = startKiln(["start", app(), "--port", "0"]);
    const [, url] = await server.waitFor(SERVING);
    const slow = get(`${url}/slow`);
    await server.waitFor(/slow request started/);
    server.child.kill("SIGTERM");
    await server.waitFor(/Stopping: finishing in-flight requests/);
    await expect(get(`${url}/hello`)).rejects.toMatchObject({ code: "ECONNREFUSED" });
    expect(await slow).toEqual({ status: 200, body: "finished" });
    expect(await server.exited).toBe(0);
  });
});

// These spawn short-lived processes that never serve: run them side by side.
describe.concurrent("kiln start refuses to start with a one-line error and exit code 1", {
  timeout: 120_000,
}, () => {
  const app = () => join(tmp.dir, "served");

  it("a missing folder", async () => {
    const { code, stderr } = await runKiln(["start", join(tmp.dir, "no-such-app")]);
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(`kiln start: App folder not found: ${join(tmp.dir, "no-such-app")}`);
  });

  it("a folder without kiln.yaml", async () => {
    writeFiles(tmp.dir, { "no-yaml/server/x.ts": "" });
    const { code, stderr } = await runKiln(["start", join(tmp.dir, "no-yaml")]);
    expect(code).toBe(1);
    expect(stderr.trim()).toMatch(/^kiln start: No kiln\.yaml at .*no-yaml\/kiln\.yaml$/);
  });

  it("a bad kiln.yaml, naming the line", async () => {
    writeFiles(tmp.dir, { "bad-yaml/kiln.yaml": "name: bad\napi:\n  prefix: [oops\n" });
    const { code, stderr } = await runKiln(["start", join(tmp.dir, "bad-yaml")]);
    expect(code).toBe(1);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(/^kiln start: .*kiln\.yaml:\d+:\d+: /);
    expect(stderr).not.toMatch(/at line \d+/); // the position is given once
  });

  it("a server module that does not compile, naming the file and line", async () => {
    writeFiles(tmp.dir, {
      "bad-module/kiln.yaml": "name: bad\n",
      "bad-module/server/broken.ts": "export const x = {;\n",
    });
    const { code, stderr } = await runKiln(["start", join(tmp.dir, "bad-module")]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^kiln start: Could not load .*server\/broken\.ts: /);
    expect(stderr).toMatch(/broken\.ts:1:\d+: ERROR: /);
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it("a port in use", async () => {
    const blocker = createServer();
    await new Promise<void>((ready) => blocker.listen(0, "127.0.0.1", ready));
    const port = (blocker.address() as { port: number }).port;
    try {
      const { code, stderr } = await runKiln(["start", app(), "--port", String(port)]);
      expect(code).toBe(1);
      expect(stderr.trim()).toBe(
        `kiln start: port ${port} is already in use (choose another with --port)`,
      );
    } finally {
      blocker.close();
    }
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
