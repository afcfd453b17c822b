import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { type AppConfig, createApp, type KilnApp } from "../../src/index.ts";

/** A fresh app in a temp data folder; `cleanup()` closes it and removes the folder. */
export function testApp(config: AppConfig = {}): KilnApp & { cleanup(): Promise<void> } {
  const dataDir = mkdtempSync(join(tmpdir(), "kiln-http-"));
  const app = createApp({ name: "test", dataDir, logger: false, ...config });
  return Object.assign(app, {
    async cleanup() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

/** A log destination that keeps every JSON line pino writes, parsed. */
export function logCapture(): { stream: Writable; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { stream, lines };
}

/** A multipart/form-data body built the way a browser builds it (via the web FormData). */
export async function multipart(
  form: FormData,
): Promise<{ payload: Buffer; headers: { "content-type": string } }> {
  const response = new Response(form);
  const payload = Buffer.from(await response.arrayBuffer());
  return { payload, headers: { "content-type": response.headers.get("content-type") ?? "" } };
}
