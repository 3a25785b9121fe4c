// File access for CLI commands: OS errors a user can cause become one-line UserErrors.
import { readFile } from "node:fs/promises";
import { UserError } from "../ts/errors.ts";

const REASONS: Record<string, string> = {
  ENOENT: "no such file",
  EISDIR: "is a directory, expected a file",
  EACCES: "permission denied",
  ENOTDIR: "no such file (a parent is not a directory)",
};

export async function readUserFile(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    const reason = REASONS[(err as NodeJS.ErrnoException).code ?? ""];
    if (reason) throw new UserError(`${path}: ${reason}`);
    throw err;
  }
}
