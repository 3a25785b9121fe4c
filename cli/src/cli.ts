// The `rankgate` CLI. Each command lives in cli/src/commands/<name>.ts and registers itself on the program.
// Importing this module (or its bundle, cli/dist/rankgate.js) runs nothing: cli/bin/rankgate.js calls run().
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { UserError } from "../../runtime/src/index.ts";
import { protectInputs } from "../../toolchain/io/files.ts";
import { registerImport } from "./commands/import.ts";
import { registerInspect } from "./commands/inspect.ts";
import { registerQuantize } from "./commands/quantize.ts";
import { registerEval } from "./commands/eval.ts";
import { registerSim } from "./commands/sim.ts";
import { registerTrain } from "./commands/train.ts";
import { registerProfile } from "./commands/profile.ts";
import { registerTrainPolicy } from "./commands/train-policy.ts";
import { registerOptimize } from "./commands/optimize.ts";

const COMMANDS = [registerTrain, registerTrainPolicy, registerImport, registerQuantize, registerEval, registerSim, registerInspect, registerProfile, registerOptimize];

/** A commander parse failure, tagged with the command whose --help the hint should name. */
class UsageError extends UserError {
  override name = "UsageError";
  constructor(message: string, readonly hint: string) {
    super(message);
  }
}

function version(): string {
  try {
    // cli/package.json, from the source (cli/src/) and from the bundle (cli/dist/) alike
    return JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version;
  } catch {
    return "unknown";
  }
}

function createProgram(): Command {
  const program = new Command("rankgate")
    .description("int8 low-rank-gated MLP inference engine")
    .version(version(), "-V, --version")
    .configureOutput({ outputError: () => {} })
    .showSuggestionAfterError();
  for (const register of COMMANDS) register(program);
  const override = (cmd: Command, path: string) => {
    cmd.exitOverride((err) => {
      if (err.exitCode === 0 || err.code === "commander.help") throw err;
      const [first, ...rest] = err.message.replace(/^error: /, "").trim().split("\n");
      const suggestion = rest.find((l) => l.startsWith("(Did you mean"));
      throw new UsageError(first, suggestion ?? `run '${path} --help'`);
    });
    for (const sub of cmd.commands) override(sub, `${path} ${sub.name()}`);
  };
  override(program, "rankgate");
  return program;
}

async function main(argv: string[]): Promise<void> {
  // No command writes over a file it read (cli/src/cli-io.ts)
  protectInputs();
  await createProgram().parseAsync(argv);
}

function handleError(err: unknown): void {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
  } else if (err instanceof UserError) {
    process.stderr.write(`rankgate: ${err.message}\n`);
    if (err instanceof UsageError) process.stderr.write(`${err.hint}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 2;
  }
}

/** Runs the CLI on `argv` (process.argv form); errors become one line and an exit code. */
export function run(argv: string[]): Promise<void> {
  return main(argv).catch(handleError);
}

/** Whether this module is the program node runs (tsx cli/src/cli.ts, node cli/dist/rankgate.js), not an import. */
function isEntry(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntry()) await run(process.argv);
