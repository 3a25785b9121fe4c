import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UserError } from "../runtime/src/errors.ts";
import { readFileForUser, readUserFile, writeFileForUser, writeUserFile } from "../toolchain/io/files.ts";

const dir = mkdtempSync(join(tmpdir(), "rankgate-files-"));

describe("files a user names", () => {
  it("round-trips bytes, sync and async", async () => {
    writeFileForUser(join(dir, "a.bin"), new Uint8Array([1, 2, 3]));
    expect(Array.from(readFileForUser(join(dir, "a.bin")))).toEqual([1, 2, 3]);
    await writeUserFile(join(dir, "b.bin"), "hi");
    expect(Array.from(await readUserFile(join(dir, "b.bin")))).toEqual([104, 105]);
  });
  it("turns OS errors into one-line UserErrors naming the path", async () => {
    const cases: [() => unknown, string][] = [
      [() => readFileForUser(join(dir, "nope")), `${join(dir, "nope")}: no such file`],
      [() => readFileForUser(dir), `${dir}: is a directory, expected a file`],
      [() => writeFileForUser(join(dir, "no/x"), "x"), `${join(dir, "no/x")}: no such directory`],
    ];
    for (const [f, message] of cases) {
      expect(f).toThrow(UserError);
      expect(f).toThrow(message);
    }
    await expect(readUserFile(join(dir, "nope"))).rejects.toThrow(`${join(dir, "nope")}: no such file`);
    await expect(writeUserFile(join(dir, "no/x"), "x")).rejects.toThrow("no such directory");
  });
});
