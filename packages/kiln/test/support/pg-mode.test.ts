import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * KILN_TEST_PG as the README and .ci/run use it: `required` or `1` insists on PostgreSQL (an
 * unreachable server fails the run, it never silently drops the PostgreSQL half), `0` skips
 * it, unset runs it when a server answers, and a value it does not know is an error. Each case
 * runs in a fresh process (the decision is made once per process), against a port where
 * nothing answers.
 */

const PG_HELPER = fileURLToPath(new URL("./pg.ts", import.meta.url));

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function decide(mode: string | undefined): Promise<{ status: number | null; out: string }> {
  const port = await closedPort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KILN_TEST_PG_URL: `postgres://postgres@127.0.0.1:${port}/test`,
  };
  if (mode === undefined) delete env.KILN_TEST_PG;
  else env.KILN_TEST_PG = mode;
  const script = `const { pgTestsEnabled } = await import(${JSON.stringify(PG_HELPER)}); console.log("enabled=" + (await pgTestsEnabled()));`;
  const result = spawnSync(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "-e", script],
    {
      env,
      encoding: "utf8",
    },
  );
  return { status: result.status, out: result.stdout + result.stderr };
}

describe("KILN_TEST_PG", () => {
  it.each(["required", "1"])("%s with no server answering fails loudly", async (mode) => {
    const { status, out } = await decide(mode);
    expect(status).not.toBe(0);
    expect(out).toContain(`KILN_TEST_PG=${mode} but PostgreSQL is unreachable`);
  });

  it("0 skips the PostgreSQL tests", async () => {
    const { status, out } = await decide("0");
    expect(status).toBe(0);
    expect(out).toContain("enabled=false");
  });

  it("an unknown value is an error, not a guess", async () => {
    const { status, out } = await decide("yes");
    expect(status).not.toBe(0);
    expect(out).toContain("KILN_TEST_PG=yes is not understood");
  });
});
