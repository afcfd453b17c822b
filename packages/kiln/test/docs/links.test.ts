/**
 * Every relative link in README.md, CHANGELOG.md and docs/*.md leads somewhere: the file or
 * folder exists, and a `#fragment` names a heading of the page it points to (as GitHub makes
 * anchors from headings). A page renamed, or a heading reworded, fails here with the page and
 * line of each link it broke. Links to other sites are not fetched.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const REPO = resolve(import.meta.dirname, "../../../..");

const PAGES = [
  "README.md",
  "CHANGELOG.md",
  ...readdirSync(join(REPO, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`),
];

/** The text with fenced code blocks blanked (line numbers kept) and inline code spans emptied. */
function prose(text: string): string {
  return text
    .replace(/^```[\s\S]*?^```/gm, (block) => block.replace(/[^\n]/g, ""))
    .replace(/`[^`\n]*`/g, "``");
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .replace(/`/g, "")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/**
 * The anchors of a Markdown page: its headings' (a repeated heading gets `-1`, `-2`, ...) and
 * those set by hand, `<a id="name"></a>`.
 */
function anchors(file: string): Set<string> {
  const text = readFileSync(file, "utf8").replace(/^```[\s\S]*?^```/gm, "");
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const [, heading] of text.matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = slug(heading as string);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    found.add(count === 0 ? base : `${base}-${count}`);
  }
  for (const [, name] of text.matchAll(/<a (?:id|name)="([^"]+)"/g)) found.add(name as string);
  return found;
}

interface Link {
  where: string;
  target: string;
}

/** The relative links of a page: `[text](target)`, outside code. */
function links(page: string): Link[] {
  const text = prose(readFileSync(join(REPO, page), "utf8"));
  const found: Link[] = [];
  for (const match of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = match[1] as string;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
    const line = text.slice(0, match.index).split("\n").length;
    found.push({ where: `${page}:${line}`, target });
  }
  return found;
}

/** Why a link leads nowhere, or null when it leads somewhere. */
function broken(page: string, target: string): string | null {
  const [path = "", fragment] = target.split("#", 2);
  const file = path ? resolve(dirname(join(REPO, page)), decodeURI(path)) : join(REPO, page);
  if (!existsSync(file)) return `no such file: ${relative(REPO, file)}`;
  if (fragment === undefined) return null;
  if (!file.endsWith(".md") || statSync(file).isDirectory()) {
    return `#${fragment} on ${relative(REPO, file)}, which is not a Markdown page`;
  }
  const names = anchors(file);
  return names.has(fragment)
    ? null
    : `${relative(REPO, file)} has no heading #${fragment} (it has: ${[...names].join(", ")})`;
}

describe("the links of the README, the changelog and the manual", () => {
  it("finds the links on the pages (the README links into docs/)", () => {
    const readme = links("README.md").map((link) => link.target);
    expect(readme).toContain("docs/getting-started.md");
    expect(readme).toContain("docs/upgrading.md");
  });

  it("reads headings as GitHub anchors them", () => {
    expect(slug("Start-up code: `onStart`")).toBe("start-up-code-onstart");
    expect(slug("Moving an app over from 0.1")).toBe("moving-an-app-over-from-01");
    expect(slug("better-sqlite3 and the C++ toolchain")).toBe("better-sqlite3-and-the-c-toolchain");
  });

  for (const page of PAGES) {
    it(`${page}: every relative link leads to a file and heading that exist`, () => {
      const bad = links(page)
        .map((link) => ({ ...link, why: broken(page, link.target) }))
        .filter((link) => link.why !== null)
        .map((link) => `${link.where}: (${link.target}) ${link.why}`);
      expect(bad).toEqual([]);
    });
  }
});
