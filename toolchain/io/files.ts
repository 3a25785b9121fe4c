// File access a user names: OS errors become one-line UserErrors naming the path.
import { accessSync, constants, readFileSync, realpathSync, statSync, writeFileSync, type Stats } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { readFile, writeFile } from "node:fs/promises";
import { UserError } from "../../runtime/src/index.ts";

const READ_REASONS: Record<string, string> = {
  ENOENT: "no such file",
  EISDIR: "is a directory, expected a file",
  EACCES: "permission denied",
  ENOTDIR: "no such file (a parent is not a directory)",
};

const WRITE_REASONS: Record<string, string> = {
  ENOENT: "no such directory",
  EISDIR: "is a directory, expected a file",
  EACCES: "permission denied",
  ENOTDIR: "no such directory (a parent is not a directory)",
  EROFS: "read-only file system",
};

// Inputs of this process (on from protectInputs(): the CLI), by device+inode and real path: an output
// that is one of them, by its own name or through a symlink or a hard link, is refused before writing.
// Outputs announced by checkOutputPath (before any work) are remembered too, so a later read of one of
// them is refused before it is read, and so before the command's first byte is written.
let inputs: { byInode: Map<string, string>; byRealPath: Map<string, string> } | null = null;
let outputs: { byInode: Map<string, string>; byRealPath: Map<string, string> } | null = null;
const inode = (st: Stats) => (st.ino === 0 ? null : `${st.dev}:${st.ino}`);

/** From now on (for the life of the process) remember every file read here, and refuse to write over any of them. */
export function protectInputs(): void {
  inputs ??= { byInode: new Map(), byRealPath: new Map() };
  outputs ??= { byInode: new Map(), byRealPath: new Map() };
}

/** The real path of `path`, or of its folder joined with its name when it does not exist yet. */
function realOrPlanned(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(path)), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

/** Remembers `path` as an output this command will write (refused later as an input). */
function noteOutput(path: string): void {
  if (!outputs) return;
  outputs.byRealPath.set(realOrPlanned(path), path);
  try {
    const key = inode(statSync(path));
    if (key) outputs.byInode.set(key, path);
  } catch {
    // Not there yet: its planned real path is enough
  }
}

/** A UserError when `path` (through any link) is an output announced by checkOutputPath. */
function checkNotAnOutput(path: string): void {
  if (!outputs || (outputs.byInode.size === 0 && outputs.byRealPath.size === 0)) return;
  let key: string | null = null;
  try {
    key = inode(statSync(path));
  } catch {
    // Reading it fails with its own message
  }
  const out = (key && outputs.byInode.get(key)) ?? outputs.byRealPath.get(realOrPlanned(path));
  if (out === undefined) return;
  const how = out === path ? "" : ` (the output ${out}, through a link or another name)`;
  throw new UserError(`${path}: is also an output of this command${how}; refusing to read a file the command would overwrite, write the output elsewhere (nothing was written)`);
}

/** Records `path` as an input of this process (files read here are recorded already). */
export function noteInput(path: string): void {
  if (!inputs) return;
  checkNotAnOutput(path);
  try {
    const key = inode(statSync(path));
    if (key) inputs.byInode.set(key, path);
    inputs.byRealPath.set(realpathSync(path), path);
  } catch {
    // Not there: nothing to protect
  }
}

/** A UserError when `path` names (through any link) a file this process read. */
export function checkNotAnInput(path: string): void {
  if (!inputs) return;
  let st: Stats, real: string;
  try {
    st = statSync(path);
    real = realpathSync(path);
  } catch {
    return; // Does not exist (or a dangling link): writing creates a new file
  }
  const key = inode(st);
  const input = (key && inputs.byInode.get(key)) ?? inputs.byRealPath.get(real);
  if (input === undefined) return;
  const how = input === path ? "" : " (the same file through a link)";
  throw new UserError(`${path}: is the input ${input}${how}; refusing to overwrite an input, write the output elsewhere`);
}

function userError(path: string, err: unknown, reasons: Record<string, string>, verb: string): UserError {
  const code = (err as NodeJS.ErrnoException).code ?? "";
  return new UserError(`${path}: ${reasons[code] ?? `cannot ${verb} (${code || (err as Error).message})`}`);
}

/** The file's bytes; with `maxBytes`, a larger file is a UserError before it is read. */
export function readFileForUser(path: string, maxBytes = Infinity): Uint8Array {
  checkNotAnOutput(path);
  try {
    if (maxBytes !== Infinity) {
      const size = statSync(path).size;
      if (size > maxBytes) throw new UserError(`${path}: ${size} bytes, more than the ${maxBytes} this file may have`);
    }
    const buf = readFileSync(path);
    // A view, not a copy, when the Buffer owns its memory alone (a pooled small Buffer is copied)
    const bytes = buf.byteOffset === 0 && buf.buffer.byteLength === buf.length ? new Uint8Array(buf.buffer, 0, buf.length) : new Uint8Array(buf);
    noteInput(path);
    return bytes;
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw userError(path, err, READ_REASONS, "read");
  }
}

export function writeFileForUser(path: string, data: Uint8Array | string): void {
  checkNotAnInput(path);
  try {
    writeFileSync(path, data);
  } catch (err) {
    throw userError(path, err, WRITE_REASONS, "write");
  }
}

export async function readUserFile(path: string): Promise<Uint8Array> {
  checkNotAnOutput(path);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    throw userError(path, err, READ_REASONS, "read");
  }
  noteInput(path);
  return bytes;
}

export async function writeUserFile(path: string, data: Uint8Array | string): Promise<void> {
  checkNotAnInput(path);
  try {
    await writeFile(path, data);
  } catch (err) {
    throw userError(path, err, WRITE_REASONS, "write");
  }
}

/**
 * Checks, before any work, that `path` can be written: its folder exists and is writable and the path
 * is not a folder. Throws the UserError writeUserFile would throw after the work.
 */
export function checkOutputPath(path: string): void {
  checkNotAnInput(path);
  const dir = dirname(path);
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    throw userError(path, err, WRITE_REASONS, "write");
  }
  if (!st.isDirectory()) throw new UserError(`${path}: ${WRITE_REASONS.ENOTDIR}`);
  try {
    if (statSync(path).isDirectory()) throw new UserError(`${path}: ${WRITE_REASONS.EISDIR}`);
  } catch (err) {
    if (err instanceof UserError) throw err;
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw userError(path, err, WRITE_REASONS, "write");
  }
  noteOutput(path);
}
