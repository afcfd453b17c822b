import { createPgSchema, pgTestsEnabled } from "../support/pg.ts";

/** Environment for a `kiln` process on one backend, and how to throw its database away. */
export interface BackendEnv {
  vars: NodeJS.ProcessEnv;
  drop(): Promise<void>;
}

export interface Backend {
  name: "sqlite" | "postgres";
  /** A fresh, empty database for one test. */
  env(): Promise<BackendEnv>;
}

/**
 * The backends a process-level test runs on: SQLite always (the file in the data folder),
 * and PostgreSQL as KILN_TEST_PG decides (support/pg.ts), each test in a schema of its own.
 * @example for (const backend of await testBackends()) describe(backend.name, ...)
 */
export async function testBackends(): Promise<Backend[]> {
  const backends: Backend[] = [
    {
      name: "sqlite",
      env: async () => ({ vars: { DATABASE_URL: undefined }, drop: async () => {} }),
    },
  ];
  if (await pgTestsEnabled()) {
    backends.push({
      name: "postgres",
      env: async () => {
        const { url, drop } = await createPgSchema();
        return { vars: { DATABASE_URL: url }, drop };
      },
    });
  }
  return backends;
}
