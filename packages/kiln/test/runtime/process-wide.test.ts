/*
 * Values every copy of kiln in a process shares (the request registry, the transaction store):
 * what another copy made is found under the same registered symbol, and made only once.
 */
import { describe, expect, it } from "vitest";
import { hasProcessWide, processWide } from "../../src/runtime/process-wide.ts";

describe("processWide", () => {
  it("makes the value once, under Symbol.for(key), and gives every caller that one", () => {
    const key = `kiln.test.processWide.${Math.random()}`;
    expect(hasProcessWide(key)).toBe(false);
    let made = 0;
    const first = processWide(key, () => ({ made: ++made }));
    const second = processWide(key, () => ({ made: ++made }));
    expect(second).toBe(first);
    expect(made).toBe(1);
    expect(hasProcessWide(key)).toBe(true);
    // Where another copy of kiln (another module instance) looks for it.
    expect(Reflect.get(globalThis, Symbol.for(key))).toBe(first);
  });

  it("finds what another copy of kiln made, and makes nothing then", () => {
    const key = `kiln.test.processWide.${Math.random()}`;
    const theirs = { running: 3 };
    Reflect.set(globalThis, Symbol.for(key), theirs);
    expect(hasProcessWide(key)).toBe(true);
    expect(processWide(key, () => ({ running: 0 }))).toBe(theirs);
  });
});
