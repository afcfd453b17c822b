import {
  chmodSync,
  closeSync,
  existsSync,
  fchmodSync,
  mkdirSync,
  openSync,
  statSync,
} from "node:fs";

/**
 * The data folder holds the database and the secret key: only the app's user may enter it.
 * Created 0700 whatever the umask (mkdir's mode is masked by it, so it is set again after).
 * A folder that already exists is the deployer's, and keeps its mode.
 */
export function ensureDataDir(dir: string): void {
  if (mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(dir, 0o700);
}

/**
 * Makes `file` readable and writable by the app's user only (0600), creating it empty when
 * missing: the SQLite file before SQLite opens it (SQLite gives its -wal and -shm files the
 * database file's mode), and files left with a looser mode by an older version or a umask.
 */
export function privateFile(file: string, create: boolean): void {
  if (!existsSync(file)) {
    if (!create) return;
    const fd = openSync(file, "a", 0o600);
    try {
      fchmodSync(fd, 0o600); // the umask may have taken bits away, never added: set exactly
    } finally {
      closeSync(fd);
    }
    return;
  }
  try {
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  } catch {
    // Another user's file (a deployer's choice, e.g. a shared group): left as it is.
  }
}
