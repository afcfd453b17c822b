/**
 * The PostgreSQL twin of fastify-tasks.ts: a bare Fastify route serving the same 20 task rows
 * from a `pg` pool, with no authentication at all. Creates and fills its tables the first time.
 * Run: node --import tsx bench/peers/fastify-tasks-pg.ts --url postgres://... [--port N]
 */
import Fastify from "fastify";
import pg from "pg";
import { arg, BENCH_EMAIL, BENCH_TASKS } from "./todo-seed.ts";

const pool = new pg.Pool({ connectionString: arg("url", ""), max: 10 });
await pool.query(`CREATE TABLE IF NOT EXISTS users (
    id serial PRIMARY KEY, email text NOT NULL UNIQUE, password_hash text NOT NULL);
  CREATE TABLE IF NOT EXISTS tasks (
    id serial PRIMARY KEY, title text NOT NULL, done boolean NOT NULL, owner integer NOT NULL);
  CREATE INDEX IF NOT EXISTS tasks_owner ON tasks (owner);`);
let owner = (await pool.query("SELECT id FROM users WHERE email = $1", [BENCH_EMAIL])).rows[0]?.id;
if (owner === undefined) {
  owner = (
    await pool.query("INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id", [
      BENCH_EMAIL,
    ])
  ).rows[0].id;
  for (const task of BENCH_TASKS) {
    await pool.query("INSERT INTO tasks (title, done, owner) VALUES ($1, $2, $3)", [
      task.title,
      task.done,
      owner,
    ]);
  }
}

const app = Fastify({ logger: false });
app.get("/tasks", async () => {
  const { rows } = await pool.query<{ id: number; title: string; done: boolean }>(
    { name: "list-tasks", text: "SELECT id, title, done FROM tasks WHERE owner = $1 ORDER BY id" },
    [owner],
  );
  return rows.map((t) => ({ title: t.title, done: t.done, id: `[2,${t.id}]` }));
});

const url = await app.listen({ port: Number(arg("port", "0")), host: "127.0.0.1" });
console.log(`listening ${url}`);
