// JSON from a file a user names, parsed within limits: the nesting depth is counted by one linear scan
// before JSON.parse runs, so a value nested 20,000 deep is refused in time linear in its size and
// nothing downstream (a validator, a formatter) ever recurses into it.
import { showName } from "../../runtime/src/index.ts";

/** Deepest nesting of arrays and objects in `text` (strings skipped); stops counting past `stop`. */
export function jsonDepth(text: string, stop = Infinity): number {
  let depth = 0, max = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) {
        max = depth;
        if (max > stop) return max;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** Why `text` is not JSON within `maxDepth`, or its value. `problem` gets a short one-line reason. */
export function parseJsonBounded(text: string, maxDepth: number, problem: (expected: string, actual: string) => never): unknown {
  const depth = jsonDepth(text, maxDepth);
  if (depth > maxDepth) problem(`JSON nested at most ${maxDepth} deep`, `deeper than ${maxDepth}`);
  try {
    return JSON.parse(text);
  } catch (err) {
    // V8's message quotes the text around the error: escaped and cut like any untrusted value
    return problem("valid JSON", showName((err as Error).message, 120));
  }
}
