import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AppConfig, createApp, type KilnApp } from "../../src/index.ts";

/** A parsed HTTP/1.1 answer read off a raw socket. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Everything the server wrote, as latin1 (byte for byte). */
  raw: string;
  /** True when the server closed the connection. */
  closed: boolean;
}

/**
 * Writes `data` to a fresh TCP connection and reads until the server closes it or `waitMs`
 * passes. Raw sockets are how a hostile client talks: no client library fixes up its bytes.
 */
export function rawRequest(
  port: number,
  data: string | Buffer,
  waitMs = 5_000,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseResponse(Buffer.concat(chunks).toString("latin1"), closed));
    };
    const timer = setTimeout(finish, waitMs);
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("close", () => {
      closed = true;
      finish();
    });
    // A server that refuses a request may reset the socket while we are still writing.
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "ECONNRESET" && error.code !== "EPIPE") reject(error);
    });
    socket.write(data);
  });
}

export function parseResponse(raw: string, closed: boolean): RawResponse {
  const end = raw.indexOf("\r\n\r\n");
  const head = end === -1 ? raw : raw.slice(0, end);
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0)
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const body = end === -1 ? "" : Buffer.from(raw.slice(end + 4), "latin1").toString("utf8");
  return { status, headers, body, raw, closed };
}

/** A request line plus headers, ending the head; `Connection: close` so the read ends. */
export function head(requestLine: string, headers: Record<string, string | number> = {}): string {
  const lines = [requestLine, "Host: localhost", "Connection: close"];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join("\r\n")}\r\n\r\n`;
}

export type ListeningApp = KilnApp & { port: number; url: string; cleanup(): Promise<void> };

/**
 * A real app on a real socket (port 0), in a fresh temp data folder. `register` adds the
 * endpoints before the app starts listening.
 */
export async function listeningApp(
  register: (app: KilnApp) => void,
  config: AppConfig = {},
): Promise<ListeningApp> {
  const dataDir = mkdtempSync(join(tmpdir(), "kiln-rel-"));
  const app = createApp({ name: "reliability", dataDir, logger: false, ...config });
  register(app);
  const url = await app.listen({ port: 0 });
  const port = Number(new URL(url).port);
  return Object.assign(app, {
    port,
    url,
    async cleanup() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

/** Waits `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
