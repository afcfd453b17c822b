import http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { type AppConfig, users } from "../../src/index.ts";
import { basicAuth } from "./kiln-process.ts";
import { type ListeningApp, listeningApp, sleep } from "./raw-http.ts";

/**
 * Password guessing against a real listening server, from real (loopback) client addresses:
 * the server sees 127.0.0.2 and 127.0.0.3 as two different clients.
 */

const OWNER = "owner@example.com";
const PASSWORD = "the-owner's-password";
const ATTACKER_ADDRESS = "127.0.0.2";
const OWNER_ADDRESS = "127.0.0.3";

let app: ListeningApp | undefined;
afterEach(async () => {
  await app?.cleanup();
  app = undefined;
});

async function guardedApp(usersSettings: Record<string, unknown>): Promise<ListeningApp> {
  const config: AppConfig = { services: { users: usersSettings } };
  const started = await listeningApp((app) => {
    app.httpEndpoint("/me", { authenticateUsers: true }, () => ({ email: users.getUser()?.email }));
  }, config);
  await started.users.signupWithEmail(OWNER, PASSWORD);
  return started;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  ms: number;
}

/** GET /_/api/me with Basic credentials, on a fresh connection from `localAddress`. */
function getMe(port: number, localAddress: string, email: string, password: string) {
  const start = performance.now();
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        path: "/_/api/me",
        localAddress,
        agent: false,
        headers: { authorization: basicAuth(email, password) },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            ms: performance.now() - start,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("password guessing", () => {
  it("is slowed, then blocked for that (account, address), while the owner logs in from elsewhere", async () => {
    app = await guardedApp({
      scrypt: { N: 1024, r: 8, p: 1 },
      guessing: { freeFailures: 3, firstDelaySeconds: 1, maxDelaySeconds: 1, blockAfter: 6 },
    });
    const port = app.port;
    // The owner has logged in before from their usual address.
    expect((await getMe(port, OWNER_ADDRESS, OWNER, PASSWORD)).status).toBe(200);

    // Free failures: plain 401s.
    for (let i = 0; i < 3; i++) {
      const res = await getMe(port, ATTACKER_ADDRESS, OWNER, `guess-${i}`);
      expect(res.status).toBe(401);
      expect(res.headers["www-authenticate"]).toMatch(/^Basic /);
    }
    // The next attempt comes too soon: slowed (429 + Retry-After), without the password even
    // being checked, so the right one is refused too.
    const slowed = await getMe(port, ATTACKER_ADDRESS, OWNER, PASSWORD);
    expect(slowed.status).toBe(429);
    expect(Number(slowed.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(slowed.body).error).toEqual(expect.any(String));

    // Waiting out each delay, the guesses go on until the pair is blocked.
    for (const guess of ["guess-3", "guess-4", "guess-5"]) {
      await sleep(1_100);
      expect((await getMe(port, ATTACKER_ADDRESS, OWNER, guess)).status).toBe(401);
    }
    await sleep(1_100);
    const blocked = await getMe(port, ATTACKER_ADDRESS, OWNER, PASSWORD);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(60); // 15 minutes

    // The owner, from their own address, is not slowed at all; the attacker stays blocked
    // even with the right password (which the server has recently verified for the owner).
    const owner = await getMe(port, OWNER_ADDRESS, OWNER, PASSWORD);
    expect(owner.status).toBe(200);
    expect(JSON.parse(owner.body)).toEqual({ email: OWNER });
    expect((await getMe(port, ATTACKER_ADDRESS, OWNER, PASSWORD)).status).toBe(429);
    // Another account from the attacker's address is unaffected by this pair's block.
    expect((await getMe(port, ATTACKER_ADDRESS, "nobody@example.com", "x")).status).toBe(401);
  });

  it("an unknown email costs the same time as a wrong password (medians within 20%)", async () => {
    // Default scrypt cost (the real one); no throttling, so every attempt does the full check.
    app = await guardedApp({ guessing: { freeFailures: 1000, blockAfter: 2000 } });
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 26; i++) {
      // Interleaved, in alternating order, so machine noise and drift fall on both alike.
      const tryUnknown = () =>
        getMe(app!.port, OWNER_ADDRESS, `nobody-${i}@example.com`, "wrong password");
      const tryWrong = () => getMe(app!.port, OWNER_ADDRESS, OWNER, `wrong password ${i}`);
      const a = i % 2 ? await tryUnknown() : undefined;
      const b = await tryWrong();
      const c = a ?? (await tryUnknown());
      expect([c.status, b.status]).toEqual([401, 401]);
      expect(c.body).toBe(b.body); // the same answer, word for word
      if (i >= 2) {
        unknown.push(c.ms);
        wrong.push(b.ms);
      }
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const [u, w] = [median(unknown), median(wrong)];
    // The figure docs/security.md quotes.
    console.info(`unknown email ${u.toFixed(1)} ms, wrong password ${w.toFixed(1)} ms (medians)`);
    expect(Math.abs(u - w) / Math.max(u, w), `unknown ${u} ms, wrong ${w} ms`).toBeLessThan(0.2);
  }, 90_000);
});
