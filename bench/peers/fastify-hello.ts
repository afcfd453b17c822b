/**
 * The reference for bench/hello.ts: bare Fastify (default options, no logger) serving the same
 * JSON at the same path as the Kiln app in bench/apps/hello.
 * Run: node --import tsx bench/peers/fastify-hello.ts [--port N]
 */
import Fastify from "fastify";

const portArg = process.argv.indexOf("--port");
const port = portArg === -1 ? 0 : Number(process.argv[portArg + 1]);

const app = Fastify({ logger: false });
app.get("/_/api/hello", async () => ({ hello: "world" }));

const url = await app.listen({ port, host: "127.0.0.1" });
console.error(`listening at ${url}`);
process.once("SIGTERM", () => app.close().then(() => process.exit(0)));
