/**
 * create-kilnjs: `npm create kilnjs@latest my-api` writes a new Kiln app. `kiln new` (in the
 * kilnjs package) calls the same code. This file is the package's API (re-exports only).
 */
export { scaffoldVersions, writeNewApp } from "./new-app.ts";
export { appName, type ScaffoldVersions, scaffoldFiles } from "./scaffold.ts";
