// Progress for long work, on stderr: a live bar on a terminal, a line per 10 % otherwise (CI logs).
import cliProgress from "cli-progress";

export interface Progress {
  update(done: number, info?: string): void;
  stop(): void;
}

export function progress(label: string, total: number, quiet = false): Progress {
  if (quiet) return { update() {}, stop() {} };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta_formatted} {info}`, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { info: "" });
    return { update: (done, info = "") => bar.update(done, { info }), stop: () => bar.stop() };
  }
  let shown = -1;
  const t0 = Date.now();
  return {
    update(done, info = "") {
      const tenth = Math.floor((done / total) * 10);
      if (tenth > shown) {
        shown = tenth;
        process.stderr.write(`${label} ${done}/${total} (${((Date.now() - t0) / 1000).toFixed(1)} s) ${info}\n`);
      }
    },
    stop() {},
  };
}
