#!/usr/bin/env node
import { existsSync } from "node:fs";

const bundle = new URL("../dist/rankgate.js", import.meta.url);
if (!existsSync(bundle)) {
  process.stderr.write(`rankgate: ${bundle.pathname} not found: run \`npm run build\` first\n`);
  process.exit(1);
}
const { run } = await import(bundle.href);
await run(process.argv);
