import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { LogBatch } from "../../src/app/log-batch.ts";
import { slot } from "../../src/http/context.ts";
import { defineEndpoint } from "../../src/http/endpoint.ts";
import { buildServer, DEFAULT_LIMITS } from "../../src/http/server.ts";
import type { PipelineFeature } from "../../src/http/stages.ts";
import { logCapture, testApp } from "./test-app.ts";

let app: ReturnType<typeof testApp> | undefined;

/** A server with one endpoint, `/x`, and these features. */
function serve(features: PipelineFeature[]) {
  return buildServer({
    app: null,
    prefix: "/_/api",
    endpoints: [defineEndpoint("/x", () => "ok", undefined)],
    features,
    health: async () => true,
    limits: DEFAULT_LIMITS,
    log: pino({ level: "silent" }),
    trustProxy: false,
  });
}
afterEach(async () => {
  await app?.cleanup();
  app = undefined;
});

describe("named pipeline stages", () => {
  it("log the stage a 500 came from: the handler, or a feature's stage", async () => {
    const logs = logCapture();
    app = testApp({ logger: { destination: logs.stream } });
    app.httpEndpoint("/boom", () => {
      throw new Error("handler broke");
    });
    app.httpEndpoint(
      "/check",
      {
        requireAuth: () => {
          throw new Error("check broke");
        },
      },
      () => "never",
    );
    const basic = `Basic ${Buffer.from("a:b").toString("base64")}`;
    const boom = await app.inject({ url: "/_/api/boom" });
    const check = await app.inject({ url: "/_/api/check", headers: { authorization: basic } });
    expect([boom.statusCode, check.statusCode]).toEqual([500, 500]);
    const stageOf = (id: string) => logs.lines.find((line) => line.errorId === id)?.stage;
    expect(stageOf(boom.json().id)).toBe("handler");
    expect(stageOf(check.json().id)).toBe("users.authenticate");
  });

  it("refuse, when the server is built, a stage that needs a slot no earlier stage produces", () => {
    const token = slot<string>("test.token.v1");
    const needsToken: PipelineFeature = {
      name: "reader",
      beforeHandler: () => ({ name: "test.reader", needs: [token], run: () => undefined }),
    };
    const makesToken: PipelineFeature = {
      name: "maker",
      beforeHandler: () => ({ name: "test.maker", output: token, run: () => "t" }),
    };
    expect(() => serve([needsToken, makesToken])).toThrow(
      /Endpoint \/x: stage "test\.reader" needs "test\.token\.v1", which no stage before it produces/,
    );
    expect(() => serve([makesToken, needsToken])).not.toThrow();
  });

  it("hand a stage's output to the stages after it", async () => {
    const token = slot<string>("test.token.v1");
    let seen: string | undefined;
    const server = serve([
      {
        name: "maker",
        beforeHandler: () => ({
          name: "test.maker",
          output: token,
          run: () => Promise.resolve("made"),
        }),
      },
      {
        name: "reader",
        afterHandler: () => ({
          name: "test.reader",
          needs: [token],
          run: (ctx) => {
            seen = ctx.get(token);
          },
        }),
      },
    ]);
    const res = await server.inject({ url: "/_/api/x" });
    expect(res.body).toBe("ok");
    expect(seen).toBe("made");
    await server.close();
  });
});

describe("the request log line", () => {
  it("has pino's shape and follows the logger's level", async () => {
    const logs = logCapture();
    app = testApp({ logger: { destination: logs.stream } });
    app.httpEndpoint("/files/:name", () => "ok");
    await app.inject({ url: '/_/api/files/a"b%22?q=1' });
    app.log.level = "warn";
    await app.inject({ url: "/_/api/files/quiet" });
    const requests = logs.lines.filter((line) => line.msg === "request");
    expect(requests).toHaveLength(1);
    expect(Object.keys(requests[0] ?? {})).toEqual([
      "level",
      "time",
      "method",
      "path",
      "status",
      "ms",
      "msg",
    ]);
    expect(requests[0]).toMatchObject({ level: 30, path: "/_/api/files/a%22b%22", status: 200 });
  });
});

describe("LogBatch", () => {
  it("hands lines over in order, 4 KiB at a time or after its delay, and all of them on flush", async () => {
    const writes: string[] = [];
    const batch = new LogBatch(
      { write: (chunk: string) => writes.push(chunk) },
      {
        minLength: 100,
        maxDelayMs: 20,
      },
    );
    batch.write("a".repeat(60));
    expect(writes).toEqual([]);
    batch.write("b".repeat(60)); // 120 >= 100: handed over together
    expect(writes).toEqual(["a".repeat(60) + "b".repeat(60)]);
    batch.write("c");
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(writes).toEqual(["a".repeat(60) + "b".repeat(60), "c"]);
    batch.write("d");
    batch.flushSync();
    expect(writes.join("")).toBe(`${"a".repeat(60)}${"b".repeat(60)}cd`);
  });
});

describe("Kiln's own request type", () => {
  it("keeps Fastify inside http/: no other source file imports it", () => {
    const src = join(import.meta.dirname, "../../src");
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (path.endsWith(".ts") && !relative(src, path).startsWith("http/")) {
          if (/from "fastify"/.test(readFileSync(path, "utf8")))
            offenders.push(relative(src, path));
        }
      }
    };
    walk(src);
    expect(offenders).toEqual([]);
  });
});
