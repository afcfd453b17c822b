#!/usr/bin/env node
// The kiln CLI. Kiln itself runs from its JavaScript build (dist/); an app's server modules are
// TypeScript, loaded as they are: tsx's loader is installed first for them, then Kiln's own
// hook, which loads an app's TypeScript modules as ES modules even without a package.json (see
// typescript-esm-hooks.js).
import { register as registerHooks } from "node:module";
import { register } from "tsx/esm/api";

register();
registerHooks("./typescript-esm-hooks.js", import.meta.url);
const { main } = await import("../dist/cli/main.js");
process.exit(await main(process.argv.slice(2)));
