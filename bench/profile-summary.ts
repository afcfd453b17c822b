/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, e.g. `BENCH_PROFILE=1 npm run bench:auth`):
 * the functions with the most self time, and with the most inclusive time (themselves plus
 * what they call), each as a share of the busy (non-idle) time.
 *
 *   node --import tsx bench/profile-summary.ts FILE.cpuprofile [TOP=30]
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  throw new Error("usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [TOP]");
}
const top = Number(topArg ?? 30);
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const label = (n: ProfileNode) => {
  const { functionName, url, lineNumber } = n.callFrame;
  const where = url.replace(/^.*\/(node_modules|packages|examples)\//, "$1/");
  return `${functionName || "(anonymous)"} ${where}:${lineNumber + 1}`;
};

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let busy = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i]!)!;
  const dt = profile.timeDeltas[i] ?? 0;
  const name = node.callFrame.functionName;
  if (name === "(idle)" || name === "(program)" || name === "(garbage collector)") {
    if (name !== "(idle)") self.set(name, (self.get(name) ?? 0) + dt);
    if (name !== "(idle)") busy += dt;
    continue;
  }
  busy += dt;
  self.set(label(node), (self.get(label(node)) ?? 0) + dt);
  // Each function once per sample, however deep its recursion.
  const seen = new Set<string>();
  for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
    const l = label(byId.get(id)!);
    if (seen.has(l)) continue;
    seen.add(l);
    inclusive.set(l, (inclusive.get(l) ?? 0) + dt);
  }
}

const show = (title: string, map: Map<string, number>) => {
  console.log(`\n${title} (of ${(busy / 1000).toFixed(0)} ms busy)`);
  for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * us) / busy).toFixed(1).padStart(5)}%  ${name}`);
  }
};
show("Self time", self);
show("Inclusive time", inclusive);
