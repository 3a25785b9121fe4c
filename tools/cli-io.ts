// File access for CLI commands: OS errors a user can cause become one-line UserErrors (ts/files.ts).
export { checkOutputPath, readUserFile, writeUserFile } from "../ts/files.ts";
