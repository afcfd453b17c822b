import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { parseKilnYaml } from "../../src/app/config.ts";
import { type AppConfig, HttpError, HttpResponse, request, users } from "../../src/index.ts";
import { basic, FAST_SCRYPT } from "../users/users-test-app.ts";
import { testApp } from "./test-app.ts";

/*
 * Answers shaped as an API contract requires, through real HTTP: an HttpError with a whole
 * JSON body, a thrown HttpResponse, validation errors of a chosen status and shape (per
 * endpoint, per app, or made by a function), and app-wide endpoint defaults from kiln.yaml.
 */

let app: ReturnType<typeof testApp> | undefined;
afterEach(async () => {
  await app?.cleanup();
  app = undefined;
});

async function call(url: string, init: RequestInit & { json?: unknown } = {}) {
  const { json, ...rest } = init;
  const res = await fetch(url, {
    ...rest,
    ...(json !== undefined
      ? {
          method: "POST",
          body: JSON.stringify(json),
          headers: { "content-type": "application/json", ...rest.headers },
        }
      : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, body };
}

async function serve(config: AppConfig = {}, register: (a: NonNullable<typeof app>) => void) {
  app = testApp({ services: { users: { scrypt: FAST_SCRYPT } }, ...config });
  register(app);
  return `${await app.listen({ port: 0 })}/_/api`;
}

const Task = z.object({ title: z.string().min(1), tags: z.array(z.string()) });

describe("HttpError and HttpResponse", () => {
  it("an HttpError given an object answers exactly that JSON body, with no error key added", async () => {
    const url = await serve({}, (a) => {
      a.httpEndpoint("/conflict", () => {
        throw new HttpError(409, { code: "already_booked", slots: [1, 2] });
      });
      a.httpEndpoint("/list", () => {
        throw new HttpError(422, [{ field: "title" }]);
      });
      a.httpEndpoint("/classic", () => {
        throw new HttpError(404, "No such task", { id: 3 });
      });
    });
    expect(await call(`${url}/conflict`)).toMatchObject({
      status: 409,
      body: { code: "already_booked", slots: [1, 2] },
    });
    expect((await call(`${url}/conflict`)).body).not.toHaveProperty("error");
    expect(await call(`${url}/list`)).toMatchObject({ status: 422, body: [{ field: "title" }] });
    expect(await call(`${url}/classic`)).toMatchObject({
      status: 404,
      body: { error: "No such task", id: 3 },
    });
  });

  it("a thrown HttpResponse is the answer: status, headers and body, from a handler or an awaited helper", async () => {
    const url = await serve({}, (a) => {
      const mustBeAdmin = async () => {
        if (request.headers["x-admin"] !== "yes") {
          throw new HttpResponse({
            status: 403,
            body: "<p>Admins only</p>",
            headers: { "content-type": "text/html; charset=utf-8", "x-reason": "not-admin" },
          });
        }
      };
      a.httpEndpoint("/admin", async () => {
        await mustBeAdmin();
        return { ok: true };
      });
      a.httpEndpoint("/teapot", () => {
        throw new HttpResponse(418, { short: true });
      });
    });
    const refused = await call(`${url}/admin`);
    expect(refused).toMatchObject({ status: 403, body: "<p>Admins only</p>" });
    expect(refused.headers.get("x-reason")).toBe("not-admin");
    expect(refused.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect((await call(`${url}/admin`, { headers: { "x-admin": "yes" } })).body).toEqual({
      ok: true,
    });
    expect(await call(`${url}/teapot`)).toMatchObject({ status: 418, body: { short: true } });
  });
});

describe("validation errors", () => {
  it("stay 400 {error, problems} by default", async () => {
    const url = await serve({}, (a) => a.httpEndpoint("/tasks", { body: Task }, () => "ok"));
    expect(await call(`${url}/tasks`, { json: { title: "", tags: [1] } })).toMatchObject({
      status: 400,
      body: {
        error: "Invalid request body",
        problems: [
          { path: "body.title", message: expect.any(String) },
          { path: "body.tags.0", message: expect.any(String) },
        ],
      },
    });
  });

  it("per endpoint: 422 {errors: {field: [messages]}}", async () => {
    const url = await serve({}, (a) => {
      a.httpEndpoint(
        "/tasks",
        { body: Task, validationError: { status: 422, shape: "fields" } },
        () => "ok",
      );
      a.httpEndpoint(
        "/search",
        {
          query: z.object({ limit: z.coerce.number().int().max(100) }),
          validationError: { shape: "fields" },
        },
        () => "ok",
      );
    });
    const res = await call(`${url}/tasks`, { json: { title: "", tags: [1, "a", 2] } });
    expect(res.status).toBe(422);
    expect(Object.keys(res.body as object)).toEqual(["errors"]);
    const errors = (res.body as { errors: Record<string, string[]> }).errors;
    expect(Object.keys(errors)).toEqual(["title", "tags.0", "tags.2"]);
    expect(errors.title).toHaveLength(1);
    const whole = await call(`${url}/tasks`, { json: [1] });
    expect(Object.keys((whole.body as { errors: object }).errors)).toEqual(["body"]);
    const query = await call(`${url}/search?limit=1000`);
    expect(query.status).toBe(400);
    expect(Object.keys((query.body as { errors: object }).errors)).toEqual(["limit"]);
  });

  it("app-wide from kiln.yaml, an endpoint's own setting winning", async () => {
    const yaml = parseKilnYaml(
      "name: test\nendpoints:\n  validationError: { status: 422, shape: fields }\n",
    );
    const url = await serve(yaml, (a) => {
      a.httpEndpoint("/tasks", { body: Task }, () => "ok");
      a.httpEndpoint("/legacy", { body: Task, validationError: { shape: "problems" } }, () => "ok");
    });
    const res = await call(`${url}/tasks`, { json: { tags: [] } });
    expect(res.status).toBe(422);
    expect(Object.keys((res.body as { errors: object }).errors)).toEqual(["title"]);
    const legacy = await call(`${url}/legacy`, { json: { tags: [] } });
    expect(legacy.status).toBe(400);
    expect(legacy.body).toHaveProperty("problems");
  });

  it("made by a function set once for the app (createApp)", async () => {
    const url = await serve(
      {
        endpoints: {
          validationError: (problems, part) =>
            new HttpError(422, {
              message: `Validation failed in ${part}`,
              details: problems.map((p) => p.path),
            }),
        },
      },
      (a) => a.httpEndpoint("/tasks", { body: Task }, () => "ok"),
    );
    expect(await call(`${url}/tasks`, { json: { title: "x" } })).toEqual(
      expect.objectContaining({
        status: 422,
        body: { message: "Validation failed in body", details: ["body.tags"] },
      }),
    );
  });

  it.each([
    [{ status: 200 }, /status must be a client error/],
    [{ shape: "rails" }, /shape must be/],
    [{ colour: "red" }, /no setting "colour"/],
  ])("a bad setting (%j) fails at start with a clear error", async (setting, message) => {
    app = testApp();
    app.httpEndpoint("/t", { body: Task, validationError: setting as never }, () => "ok");
    await expect(app.ready()).rejects.toThrow(message);
  });
});

describe("app-wide endpoint defaults (kiln.yaml endpoints:)", () => {
  it("authenticateUsers: true protects every endpoint; one that says false stays open", async () => {
    const yaml = parseKilnYaml("name: test\nendpoints:\n  authenticateUsers: true\n");
    const url = await serve(yaml, (a) => {
      a.httpEndpoint("/me", () => users.getUser()?.email ?? null);
      a.httpEndpoint("/health-info", { authenticateUsers: false }, () => "open");
      a.httpEndpoint(
        "/ops",
        { requireAuth: (_u, p) => p === "ops-pw" && { ops: true } },
        () => request.user,
      );
    });
    await app!.users.addUser("ada@example.com", "correct horse");
    expect((await call(`${url}/me`)).status).toBe(401);
    expect(
      (await call(`${url}/me`, { headers: basic("ada@example.com", "correct horse") })).body,
    ).toBe("ada@example.com");
    expect(await call(`${url}/health-info`)).toMatchObject({ status: 200, body: "open" });
    // An endpoint with its own requireAuth keeps it (the default does not take over).
    expect((await call(`${url}/ops`, { headers: basic("x", "ops-pw") })).body).toEqual({
      ops: true,
    });
  });

  it("an unknown key or a bad value fails at start, naming it", () => {
    expect(() => testApp(parseKilnYaml("name: t\nendpoints:\n  methods: [GET]\n"))).toThrow(
      /endpoints\.methods is not an endpoint option/,
    );
    expect(() =>
      testApp(parseKilnYaml("name: t\nendpoints:\n  authenticateUsers: yes please\n")),
    ).toThrow(/must be true or false/);
    expect(() => parseKilnYaml("name: t\nendpoints: [1]\n")).toThrow(/endpoints must be a mapping/);
  });

  it("crossOrigin from kiln.yaml reaches every endpoint, preflights included", async () => {
    const yaml = parseKilnYaml("name: test\nendpoints:\n  crossOrigin: true\n");
    const url = await serve(yaml, (a) => {
      a.httpEndpoint("/data", () => ({ n: 1 }));
    });
    const res = await call(`${url}/data`, { headers: { origin: "https://other.example" } });
    // true: any origin, without credentials.
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    const preflight = await fetch(`${url}/data`, {
      method: "OPTIONS",
      headers: { origin: "https://other.example", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(204);
    // A list gives the listed origin credentials, and nothing to another.
    const listed = parseKilnYaml("name: test\nendpoints:\n  crossOrigin: [https://app.example]\n");
    const listedUrl = await serve(listed, (a) => {
      a.httpEndpoint("/data", () => ({ n: 1 }));
    });
    const app = await call(`${listedUrl}/data`, { headers: { origin: "https://app.example" } });
    expect(app.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(app.headers.get("access-control-allow-credentials")).toBe("true");
    const other = await call(`${listedUrl}/data`, { headers: { origin: "https://other.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});
