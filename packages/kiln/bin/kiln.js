#!/usr/bin/env node
// The kiln CLI. Kiln ships TypeScript sources and apps are TypeScript too: tsx's loader is
// installed first so both load without a build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exit(await main(process.argv.slice(2)));
