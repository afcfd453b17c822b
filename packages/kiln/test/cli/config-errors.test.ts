/**
 * kiln.yaml mistakes stop the app with one line naming the file, the line and, for a
 * misspelled key, the key that was meant: a security setting that is silently ignored
 * (`setings:`, `trustproxy`) is worse than an app that does not start.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type KilnError, loadApp, tables } from "../../src/index.ts";
import { runKiln, tempFolder, writeFiles } from "./run-kiln.ts";

let folder: ReturnType<typeof tempFolder> | undefined;
afterEach(() => {
  folder?.remove();
  folder = undefined;
});

/** The error loading an app with this kiln.yaml gives. */
async function loadError(yaml: string): Promise<KilnError> {
  folder = tempFolder();
  writeFiles(folder.dir, { "kiln.yaml": yaml });
  try {
    const app = await loadApp(folder.dir, { logger: false, dataDir: join(folder.dir, "data") });
    await app.close();
  } catch (error) {
    return error as KilnError;
  } finally {
    folder.remove();
  }
  throw new Error(`expected loadApp to refuse:\n${yaml}`);
}

describe("kiln.yaml: unknown and misspelled keys", () => {
  it.each([
    [
      "name: x\nsetings:\n  trustProxy: true\n",
      2,
      'setings: unknown key (did you mean "settings"?)',
    ],
    [
      "name: x\nsettings:\n  trustproxy: true\n",
      3,
      'settings.trustproxy: unknown key (did you mean "trustProxy"?)',
    ],
    [
      "name: x\ntrustProxy: true\n",
      2,
      "trustProxy: unknown key (did you mean settings.trustProxy?)",
    ],
    [
      "name: x\nservices:\n  user:\n    minPasswordLength: 12\n",
      3,
      'services.user: unknown key (did you mean "users"?)',
    ],
    [
      "name: x\nservices:\n  users:\n    minPaswordLength: 12\n",
      4,
      'services.users.minPaswordLength: unknown key (did you mean "minPasswordLength"?)',
    ],
    [
      "name: x\nservices:\n  sessions:\n    idleDay: 3\n",
      4,
      'services.sessions.idleDay: unknown key (did you mean "idleDays"?)',
    ],
    [
      "name: x\ntables:\n  tasks:\n    title: { type: text, indx: true }\n",
      4,
      'tables.tasks.title.indx: unknown key (did you mean "index"?)',
    ],
    ["name: x\napi:\n  prefx: /api\n", 3, 'api.prefx: unknown key (did you mean "prefix"?)'],
    [
      "name: x\n\nwhatever: 1\n",
      3,
      "whatever: unknown key (known here: name, api, tables, services, settings, endpoints)",
    ],
  ])("%j is refused at line %i", async (yaml, line, message) => {
    const error = await loadError(yaml);
    expect(error.code).toBe("KILN_BAD_CONFIG");
    expect(error.message).toBe(`${join(folder?.dir ?? "", "kiln.yaml")}:${line}: ${message}`);
  });
});

describe("kiln.yaml: every bad value names its line", () => {
  it.each([
    [
      "name: x\ntables:\n  tasks:\n    title: txt\n",
      4,
      /tables\.tasks\.title: unknown column type "txt"/,
    ],
    ["name: x\ntables:\n  tasks:\n    owner: link people\n", 4, /links to unknown table "people"/],
    ["name: x\ntables:\n  tasks:\n\n    id: text\n", 5, /tables\.tasks\.id: "id" is reserved/],
    ["name: x\nservices:\n  users:\n    minPasswordLength: 0\n", 4, /minPasswordLength must be/],
    ["name: x\nservices:\n  users:\n    scrypt: { N: 1000 }\n", 4, /services\.users\.scrypt: /],
    [
      "name: x\nservices:\n  users:\n    guessing:\n      blockAfter: -1\n",
      5,
      /guessing\.blockAfter must be a number >= 0/,
    ],
    ["name: x\nservices:\n  cookies:\n    sharedSecret: short\n", 4, /at least 16 characters/],
    ["name: x\nservices:\n  sessions:\n    idleDays: 0\n", 4, /idleDays must be a positive/],
    ["name: x\nsettings:\n  trustProxy: yes\n", 3, /settings\.trustProxy must be true or false/],
    ["name: 3\n", 1, /name must be a string/],
  ])("%j: line %i", async (yaml, line, message) => {
    const error = await loadError(yaml);
    expect(error.code).toBe("KILN_BAD_CONFIG");
    expect(error.message).toMatch(new RegExp(`kiln\\.yaml:${line}: `));
    expect(error.message).toMatch(message);
  });

  it("a correct kiln.yaml with every section still loads", async () => {
    folder = tempFolder();
    writeFiles(folder.dir, {
      "kiln.yaml": `name: full
api:
  prefix: /api
tables:
  tasks:
    title: { type: text, index: true }
    owner: link users
settings:
  bodyLimit: 1mb
  trustProxy: true
services:
  users:
    minPasswordLength: 10
    scrypt: { N: 16384, r: 8, p: 1 }
    guessing: { freeFailures: 3 }
    credentialMemory: { ttlSeconds: 60 }
  cookies:
    sharedDomain: example.com
  sessions:
    idleDays: 7
`,
    });
    const app = await loadApp(folder.dir, { logger: false, dataDir: join(folder.dir, "data") });
    await app.ready();
    expect(app.name).toBe("full");
    await app.close();
  });

  it("kiln start prints the mistake as one line with file:line and exits 1", async () => {
    folder = tempFolder();
    writeFiles(folder.dir, { "kiln.yaml": "name: x\nsettings:\n  trustproxy: true\n" });
    const run = await runKiln(["start", folder.dir, "--port", "0"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `kiln start: ${join(folder.dir, "kiln.yaml")}:3: settings.trustproxy: unknown key (did you mean "trustProxy"?)\n`,
    );
  });
});

describe("kiln.yaml: every documented key is accepted", () => {
  it("column options (unique, default, onUpdate), a table's unique list and app-wide endpoints load from a real kiln.yaml", async () => {
    folder = tempFolder();
    writeFiles(folder.dir, {
      "kiln.yaml": [
        "name: x",
        "endpoints:",
        "  crossOrigin: true",
        "tables:",
        "  posts:",
        "    slug: { type: text, unique: true }",
        "    author: text",
        "    title: text",
        "    created: { type: datetime, default: now }",
        "    updated: { type: datetime, default: now, onUpdate: now }",
        "    unique: [[author, title]]",
        "",
      ].join("\n"),
    });
    const app = await loadApp(folder.dir, { logger: false, dataDir: join(folder.dir, "data") });
    try {
      app.httpEndpoint("/posts", { methods: ["POST"] }, ({ slug, author, title }) =>
        tables.posts.addRow({ slug, author, title }),
      );
      const add = (form: string) =>
        app.inject({
          method: "POST",
          url: "/_/api/posts",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          payload: form,
        });
      const first = await add("slug=a&author=ada&title=One");
      expect(first.statusCode).toBe(200);
      expect(first.json().created).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect((await add("slug=a&author=bob&title=Two")).statusCode).toBe(409);
      expect((await add("slug=b&author=ada&title=One")).statusCode).toBe(409);
    } finally {
      await app.close();
    }
  });
});
