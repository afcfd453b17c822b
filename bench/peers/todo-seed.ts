import Database from "better-sqlite3";

/** The benchmark's account and its 20 tasks, the same for every peer. */
export const BENCH_EMAIL = "bench@example.com";
export const BENCH_PASSWORD = "bench-password-1";
export const BENCH_TASKS = Array.from({ length: 20 }, (_, i) => ({
  title: `Task number ${i + 1}`,
  done: i % 3 === 0,
}));

/** Opens (and fills, the first time) a hand-made SQLite database of users and tasks. */
export function openSeededDb(file: string, passwordHash: string): Database.Database {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.exec(`CREATE TABLE IF NOT EXISTS users (
      id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE, password_hash TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS tasks (
      id INTEGER PRIMARY KEY, title TEXT NOT NULL, done INTEGER NOT NULL, owner INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS tasks_owner ON tasks (owner);`);
  const existing = db.prepare("SELECT id FROM users WHERE email = ?").get(BENCH_EMAIL);
  if (!existing) {
    const { lastInsertRowid } = db
      .prepare("INSERT INTO users (email, password_hash) VALUES (?, ?)")
      .run(BENCH_EMAIL, passwordHash);
    const add = db.prepare("INSERT INTO tasks (title, done, owner) VALUES (?, ?, ?)");
    for (const task of BENCH_TASKS) add.run(task.title, task.done ? 1 : 0, lastInsertRowid);
  }
  return db;
}

/** `--name value` from argv. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
}
