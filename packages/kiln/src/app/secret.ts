import { randomBytes } from "node:crypto";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureDataDir, privateFile } from "../runtime/data-dir.ts";

/**
 * The app's secret: `KILN_SECRET` (or the config) when given, else the key kept in the data
 * folder, created on first start with mode 0600 so only the app's user can read it. Without a
 * data folder (a throwaway `createApp()` in a test) the secret is random per process.
 */
export function loadSecret(dataDir: string | null, given?: string): string {
  if (given) return given;
  if (!dataDir) return randomBytes(32).toString("base64url");
  const file = join(dataDir, "secret.key");
  try {
    const secret = readFileSync(file, "utf8").trim();
    privateFile(file, false); // a key file left readable by others is tightened
    return secret;
  } catch {
    ensureDataDir(dataDir);
    const secret = randomBytes(32).toString("base64url");
    try {
      // "wx": if another process created it meanwhile, read theirs instead of overwriting.
      writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: "wx" });
      chmodSync(file, 0o600);
      return secret;
    } catch {
      return readFileSync(file, "utf8").trim();
    }
  }
}
