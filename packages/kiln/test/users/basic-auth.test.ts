import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { basicChallenge, parseBasicAuth } from "../../src/users/basic-auth.ts";

const basic = (text: string) => `Basic ${Buffer.from(text, "utf8").toString("base64")}`;

describe("Basic credentials", () => {
  it("reads username and password, the password keeping its colons", () => {
    expect(parseBasicAuth(basic("alice@example.com:s3:cr:et"))).toEqual({
      username: "alice@example.com",
      password: "s3:cr:et",
    });
    expect(parseBasicAuth(`basic   ${Buffer.from("a:b").toString("base64")}`)).toEqual({
      username: "a",
      password: "b",
    });
  });

  it("reads UTF-8 credentials", () => {
    expect(parseBasicAuth(basic("zoë@example.com:pässwörd"))).toEqual({
      username: "zoë@example.com",
      password: "pässwörd",
    });
  });

  it.each([
    ["absent", undefined],
    ["another scheme", "Bearer abc"],
    ["no token", "Basic "],
    ["no space", "Basic"],
    ["bad base64", "Basic !!!!"],
    ["no colon", basic("alice")],
    ["not UTF-8", `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString("base64")}`],
    ["a control character", basic("a:b\nc")],
    ["repeated header", ["Basic YTpi", "Basic YTpi"]],
  ])("answers null (401, not 500) for %s", (_name, header) => {
    expect(parseBasicAuth(header as string | string[] | undefined)).toBeNull();
  });

  it("never throws, whatever the header", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        parseBasicAuth(text);
        parseBasicAuth(`Basic ${text}`);
      }),
    );
  });

  it("round-trips any credential without control characters", () => {
    const noControl = fc
      .string({ unit: "grapheme" })
      .filter((s) => ![...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f));
    fc.assert(
      fc.property(
        noControl.filter((s) => !s.includes(":")),
        noControl,
        (user, pw) => {
          expect(parseBasicAuth(basic(`${user}:${pw}`))).toEqual({ username: user, password: pw });
        },
      ),
    );
  });

  it("quotes the realm of the challenge", () => {
    expect(basicChallenge('my "app"')).toBe('Basic realm="my \\"app\\"", charset="UTF-8"');
  });
});
