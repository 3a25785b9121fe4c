// File access for CLI commands: OS errors a user can cause become one-line UserErrors, and no output
// overwrites a file the command read, through a link or not (toolchain/io/files.ts; the CLI turns this on).
export { checkOutputPath, readUserFile, writeUserFile } from "../../toolchain/io/files.ts";
