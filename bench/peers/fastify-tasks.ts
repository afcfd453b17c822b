/**
 * The ceiling to compare against: a bare Fastify route serving the same 20 task rows from
 * better-sqlite3, with no authentication at all.
 * Run: node --import tsx bench/peers/fastify-tasks.ts --db FILE [--port N]
 */
import Fastify from "fastify";
import { arg, BENCH_EMAIL, openSeededDb } from "./todo-seed.ts";

const db = openSeededDb(arg("db", "fastify-tasks.sqlite"), "not used");
const owner = (
  db.prepare("SELECT id FROM users WHERE email = ?").get(BENCH_EMAIL) as { id: number }
).id;
const listTasks = db.prepare("SELECT id, title, done FROM tasks WHERE owner = ? ORDER BY id");

const app = Fastify({ logger: false });
app.get("/tasks", async () => {
  const rows = listTasks.all(owner) as { id: number; title: string; done: number }[];
  return rows.map((t) => ({ title: t.title, done: t.done === 1, id: `[2,${t.id}]` }));
});

const url = await app.listen({ port: Number(arg("port", "0")), host: "127.0.0.1" });
console.log(`listening ${url}`);
