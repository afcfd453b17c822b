#!/usr/bin/env node
// The kiln CLI. Kiln ships TypeScript sources and apps are TypeScript too: tsx's loader is
// installed first so both load without a build step; then Kiln's own hook, which loads an app's
// TypeScript modules as ES modules even without a package.json (see typescript-esm-hooks.js).
import { register as registerHooks } from "node:module";
import { register } from "tsx/esm/api";

register();
registerHooks("./typescript-esm-hooks.js", import.meta.url);
const { main } = await import("../src/cli/main.ts");
process.exit(await main(process.argv.slice(2)));
