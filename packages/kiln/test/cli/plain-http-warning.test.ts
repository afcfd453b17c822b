import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SERVING, startKiln, tempFolder, writeFiles } from "./run-kiln.ts";

/**
 * Over plain HTTP to a host that is not loopback, Chromium sends no Sec-Fetch-Site (one of
 * the signals of Kiln's XSRF rule) and everything crosses the network in the clear: `kiln
 * start` says so once when it serves such an address without trustProxy, and only then.
 */

let tmp: ReturnType<typeof tempFolder>;
beforeAll(() => {
  tmp = tempFolder();
  writeFiles(tmp.dir, {
    "plain/kiln.yaml": "name: plain\n",
    "plain/server/hello.ts": `import { httpEndpoint } from "kilnjs";\nhttpEndpoint("/hello", () => "hi");\n`,
    "proxied/kiln.yaml": "name: proxied\nsettings:\n  trustProxy: true\n",
    "proxied/server/hello.ts": `import { httpEndpoint } from "kilnjs";\nhttpEndpoint("/hello", () => "hi");\n`,
  });
});
afterAll(() => tmp.remove());

const WARNING = /Serving plain HTTP on (\S+), which other machines can reach, without trustProxy/;

async function startOutput(app: string, host: string): Promise<string> {
  const server = startKiln(["start", join(tmp.dir, app), "--port", "0", "--host", host], {
    cwd: tmp.dir,
  });
  try {
    await server.waitFor(SERVING);
  } finally {
    expect(await server.stop()).toBe(0);
  }
  return server.stdout + server.stderr;
}

describe("kiln start on plain HTTP", { timeout: 120_000 }, () => {
  it("warns once when serving every interface (0.0.0.0) without trustProxy", async () => {
    const output = await startOutput("plain", "0.0.0.0");
    const all = new RegExp(WARNING.source, "g");
    expect([...output.matchAll(all)].map((m) => m[1])).toEqual(["0.0.0.0"]);
    expect(output).toMatch(/no Sec-Fetch-Site header/);
  });

  it("says nothing on loopback, or behind a proxy (trustProxy)", async () => {
    const [loopback, proxied] = await Promise.all([
      startOutput("plain", "127.0.0.1"),
      startOutput("proxied", "0.0.0.0"),
    ]);
    expect(loopback).toMatch(/serving at/);
    expect(loopback).not.toMatch(WARNING);
    expect(proxied).toMatch(/serving at/);
    expect(proxied).not.toMatch(WARNING);
  });
});
