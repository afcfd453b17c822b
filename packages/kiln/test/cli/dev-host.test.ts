import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { get, SERVING, startKiln, tempFolder, writeFiles } from "./run-kiln.ts";

/**
 * DNS rebinding: a page on attacker.example whose name the attacker then points at 127.0.0.1
 * makes same-origin requests to a development server on this machine, with `Host:
 * attacker.example`. `kiln dev` answers only its own names (421 for others); `kiln start`,
 * which runs behind proxies that forward any Host, is unchanged.
 */

let tmp: ReturnType<typeof tempFolder>;
beforeAll(() => {
  tmp = tempFolder();
  writeFiles(tmp.dir, {
    "app/kiln.yaml": "name: rebind\n",
    "app/server/hello.ts": `import { httpEndpoint } from "kilnjs";\nhttpEndpoint("/hello", () => "hi");\n`,
  });
});
afterAll(() => tmp.remove());

/** GET /_/api/hello on the server at `port`, with the given Host header. */
function withHost(port: number, host: string): Promise<{ status: number; body: string }> {
  return get(`http://127.0.0.1:${port}/_/api/hello`, { host });
}

describe("Host names the development server answers", { timeout: 240_000 }, () => {
  it("kiln dev answers loopback names and refuses any other with a 421", async () => {
    const dev = startKiln(["dev", join(tmp.dir, "app"), "--port", "0"]);
    try {
      const [, url] = await dev.waitFor(/kiln dev: serving at (http:\/\/\S+)/, 90_000);
      const port = Number(new URL(url!).port);
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, "127.0.0.1"]) {
        expect(await withHost(port, host), host).toEqual({ status: 200, body: "hi" });
      }
      for (const host of [`attacker.example:${port}`, "attacker.example", `192.0.2.1:${port}`]) {
        const refused = await withHost(port, host);
        expect(refused.status, host).toBe(421);
        expect(JSON.parse(refused.body).error).toMatch(
          /answers only requests for localhost or 127\.0\.0\.1, not for "(attacker\.example|192\.0\.2\.1)" \(.*DNS rebinding\)/,
        );
      }
    } finally {
      expect(await dev.stop()).toBe(0);
    }
  });

  it("kiln dev on every interface also answers IP addresses, never other names", async () => {
    const dev = startKiln(["dev", join(tmp.dir, "app"), "--port", "0", "--host", "0.0.0.0"]);
    try {
      const [, url] = await dev.waitFor(/kiln dev: serving at (http:\/\/\S+)/, 90_000);
      const port = Number(new URL(url!).port);
      expect((await withHost(port, `192.0.2.1:${port}`)).status).toBe(200);
      expect((await withHost(port, `localhost:${port}`)).status).toBe(200);
      expect((await withHost(port, `rebound.example:${port}`)).status).toBe(421);
    } finally {
      expect(await dev.stop()).toBe(0);
    }
  });

  it("kiln start answers any Host (a proxy in front forwards the public name)", async () => {
    const server = startKiln(["start", join(tmp.dir, "app"), "--port", "0"]);
    try {
      const [, url] = await server.waitFor(SERVING);
      const port = Number(new URL(url!).port);
      expect(await withHost(port, "api.example.com")).toEqual({ status: 200, body: "hi" });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
