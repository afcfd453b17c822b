#!/usr/bin/env node
// `npm create kilnjs@latest DIR` runs this: writes a new Kiln app into DIR.
import { writeNewApp } from "../dist/index.js";

const HELP = `Usage: npm create kilnjs@latest DIR

Creates a new Kiln app in DIR (which must not exist or be empty): kiln.yaml, a hello endpoint
in server/hello.ts, package.json and tsconfig.json. Then: cd DIR && npm install && npm run dev`;

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(HELP);
} else if (args.length !== 1 || args[0].startsWith("-")) {
  const problem =
    args.length === 0
      ? "missing DIR"
      : args[0].startsWith("-")
        ? `unknown option: ${args[0]}`
        : `unexpected argument: ${args[1]}`;
  console.error(`create-kilnjs: ${problem}\n\n${HELP}`);
  process.exitCode = 2;
} else {
  process.exitCode = writeNewApp(args[0], "create-kilnjs");
}
