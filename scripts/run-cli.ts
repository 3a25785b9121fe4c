// Running the built CLI from the generators (npm run reproduce, npm run pareto): each step is a real
// `npx rankgate …` command, so the commands they print are the ones that made the numbers.
import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";

export interface Step { command: string; seconds: number; stdout: string }

/** Runs `rankgate argv…` (cli/bin/rankgate.js), stderr passed through; rejects on a non-zero exit. */
export function runCli(argv: string[]): Promise<Step> {
  const t0 = performance.now();
  const command = `npx rankgate ${argv.join(" ")}`;
  process.stderr.write(`$ ${command}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["cli/bin/rankgate.js", ...argv], { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.on("close", (code) => (code === 0 ? resolve({ command, seconds: (performance.now() - t0) / 1000, stdout }) : reject(new Error(`${command} exited ${code}`))));
  });
}

/** Runs `jobs` items at a time, in order; results in input order. */
export async function pool<T, R>(items: readonly T[], jobs: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: jobs }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]);
    }
  }));
  return out;
}

export const minutes = (s: number) => `${(s / 60).toFixed(1)} min`;
