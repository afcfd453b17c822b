/**
 * The To-Do API's task list hand-wired the way tutorials show it: Express, better-sqlite3 and
 * bcrypt, Basic credentials checked with bcrypt on every request (cost 10, the common
 * default). Run: node --import tsx bench/peers/express-todo.ts --db FILE [--port N]
 */
import bcrypt from "bcrypt";
import express from "express";
import { arg, BENCH_PASSWORD, openSeededDb } from "./todo-seed.ts";

const db = openSeededDb(arg("db", "express-todo.sqlite"), bcrypt.hashSync(BENCH_PASSWORD, 10));
const findUser = db.prepare("SELECT id, password_hash FROM users WHERE email = ?");
const listTasks = db.prepare("SELECT id, title, done FROM tasks WHERE owner = ? ORDER BY id");

const app = express();

app.get("/tasks", async (req, res) => {
  const header = req.headers.authorization ?? "";
  const decoded = Buffer.from(header.replace(/^Basic /i, ""), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  const user =
    colon > 0
      ? (findUser.get(decoded.slice(0, colon)) as { id: number; password_hash: string } | undefined)
      : undefined;
  if (!user || !(await bcrypt.compare(decoded.slice(colon + 1), user.password_hash))) {
    res.set("WWW-Authenticate", 'Basic realm="todo"').status(401).json({ error: "Unauthorized" });
    return;
  }
  const rows = listTasks.all(user.id) as { id: number; title: string; done: number }[];
  res.json(rows.map((t) => ({ title: t.title, done: t.done === 1, id: `[2,${t.id}]` })));
});

const server = app.listen(Number(arg("port", "0")), "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  console.log(`listening http://127.0.0.1:${port}`);
});
