import { UsageError } from "./command.ts";

/**
 * Reads a password for `kiln users`: on a terminal, asks without echoing it (twice when
 * `confirm`); otherwise reads the first line of standard input, so scripts can pipe it in.
 */
export async function readPassword(options: { confirm?: boolean } = {}): Promise<string> {
  if (!process.stdin.isTTY) return firstLine(await readAll());
  const password = await ask("Password: ");
  if (options.confirm && (await ask("Repeat password: ")) !== password) {
    throw new UsageError("the two passwords differ");
  }
  return password;
}

async function readAll(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function firstLine(text: string): string {
  const end = text.search(/\r?\n/);
  const line = end === -1 ? text : text.slice(0, end);
  if (!line) throw new UsageError("no password given on standard input");
  return line;
}

/** Reads one line from the terminal in raw mode, printing nothing of what is typed. */
function ask(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = "";
    const done = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString("utf8")) {
        if (char === "\r" || char === "\n") return done();
        if (char === "\u0003") return done(new UsageError("cancelled"));
        if (char === "\u007f" || char === "\b") typed = typed.slice(0, -1);
        else if (char >= " ") typed += char;
      }
    };
    stdin.on("data", onData);
  });
}
