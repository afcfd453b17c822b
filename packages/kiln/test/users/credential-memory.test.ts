import { describe, expect, it } from "vitest";
import { CredentialMemory } from "../../src/users/credential-memory.ts";

describe("credential memory", () => {
  it("recalls a remembered (email, password, hash) and nothing else", () => {
    const memory = new CredentialMemory();
    memory.remember("a@x.io", "pw", "$hash1");
    expect(memory.recall("a@x.io", "pw", "$hash1")).toBe(true);
    expect(memory.recall("a@x.io", "pw2", "$hash1")).toBe(false);
    expect(memory.recall("b@x.io", "pw", "$hash1")).toBe(false);
  });

  it("forgets at once when the stored hash changes (password changed)", () => {
    const memory = new CredentialMemory();
    memory.remember("a@x.io", "pw", "$hash1");
    expect(memory.recall("a@x.io", "pw", "$hash2")).toBe(false);
  });

  it("does not confuse fields that concatenate alike", () => {
    const memory = new CredentialMemory();
    memory.remember("a@x.io", "pw:1", "$h");
    expect(memory.recall("a@x.io:pw", "1", "$h")).toBe(false);
    expect(memory.recall("a@x.io", "pw", ":1$h")).toBe(false);
  });

  it("expires entries after the TTL", () => {
    let now = 1_000;
    const memory = new CredentialMemory({ ttlMs: 60_000, now: () => now });
    memory.remember("a@x.io", "pw", "$h");
    now += 59_999;
    expect(memory.recall("a@x.io", "pw", "$h")).toBe(true);
    now += 60_001;
    expect(memory.recall("a@x.io", "pw", "$h")).toBe(false);
  });

  it("keeps at most maxEntries, dropping the least recently used", () => {
    const memory = new CredentialMemory({ maxEntries: 2 });
    memory.remember("a", "pw", "$h");
    memory.remember("b", "pw", "$h");
    expect(memory.recall("a", "pw", "$h")).toBe(true); // a is now the most recent
    memory.remember("c", "pw", "$h");
    expect(memory.size).toBe(2);
    expect(memory.recall("b", "pw", "$h")).toBe(false);
    expect(memory.recall("a", "pw", "$h")).toBe(true);
    expect(memory.recall("c", "pw", "$h")).toBe(true);
  });

  it("two processes (two memories) never share entries: keys are per process", () => {
    const one = new CredentialMemory();
    const two = new CredentialMemory();
    one.remember("a", "pw", "$h");
    expect(two.recall("a", "pw", "$h")).toBe(false);
  });
});
