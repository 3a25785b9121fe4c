import { describe, expect, it } from "vitest";
import { showName, showValue, SHOW_MAX_CHARS } from "../runtime/src/show.ts";

describe("showName / showValue", () => {
  it("quotes and escapes control, ANSI and non-ASCII characters, so a message stays one printable line", () => {
    expect(showName('a"b\\c\nd\x1b[31m\u00e9')).toBe('"a\\"b\\\\c\\nd\\u001b[31m\\u00e9"');
    expect(showValue("x\r\ty")).toBe('"x\\r\\ty"');
    for (const s of [showName("\u0000\u2028\u202e"), showValue({ "\n": ["\x07"] })]) expect(s).toMatch(/^[\x20-\x7e]*$/);
  });
  it("cuts long strings and says how long they were", () => {
    const s = showName("z".repeat(5_000_000));
    expect(s.length).toBeLessThan(SHOW_MAX_CHARS + 40);
    expect(s).toContain("(5000000 characters)");
  });
  it("bounds depth and item count: 20,000 nested arrays and a million keys print short, without recursion errors", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    expect(showValue(deep)).toBe("[[[[…]]]]");
    const wide = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i]));
    const w = showValue(wide);
    expect(w).toContain("… 1000 keys");
    expect(w.length).toBeLessThanOrEqual(SHOW_MAX_CHARS + 24);
    expect(showValue(Array(1e6).fill(0))).toContain("… 1000000 items");
  });
  it("shows scalars as they are", () => {
    expect(showValue(undefined)).toBe("nothing");
    expect(showValue(-0)).toBe("-0");
    expect(showValue(null)).toBe("null");
    expect(showValue(12n)).toBe("12n");
    expect(showValue([1, "a", { b: false }])).toBe('[1,"a",{"b":false}]');
  });
});
