/**
 * What a hostile urlencoded form costs the server: a million empty fields (2 MB) posted to an
 * endpoint that allows 8 MiB bodies, and a 1000-field form, timed over real HTTP on loopback.
 * Run: npm run bench:form (prints one line per case; the first case is refused with a 413).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../packages/kiln/src/index.ts";

const dataDir = mkdtempSync(join(tmpdir(), "kiln-bench-form-"));
const app = createApp({ name: "bench", dataDir, logger: false });
app.httpEndpoint("/form", { methods: ["POST"], bodyLimit: 8 * 1024 * 1024 }, (params) => ({
  fields: Object.keys(params).length,
}));
const url = await app.listen({ port: 0 });

async function time(name: string, body: string): Promise<void> {
  const runs: number[] = [];
  let status = 0;
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    const res = await fetch(`${url}/_/api/form`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
    });
    await res.arrayBuffer();
    status = res.status;
    runs.push(performance.now() - start);
  }
  runs.sort((a, b) => a - b);
  console.log(`${name}: status ${status}, median ${runs[2]!.toFixed(1)} ms`);
}

await time("1,000,000 fields (2 MB)", "a&".repeat(1_000_000));
await time("1 field of 2 MB (the transfer alone)", `a=${"b".repeat(2_000_000)}`);
await time("1,000 fields", Array.from({ length: 1000 }, (_, i) => `f${i}=${i}`).join("&"));
await app.close();
rmSync(dataDir, { recursive: true, force: true });
