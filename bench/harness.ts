// The bench harness: contenders, interleaved rounds, medians, label agreement. Timing only; no I/O.
import { performance } from "node:perf_hooks";

/** One way of running the network: labels `count` samples of `x`, `batch` at a time (the last batch may be shorter). */
export interface Contender {
  /** JSON key. */
  readonly id: string;
  /** Table label. */
  readonly label: string;
  /** Set when the contender cannot run (shown in the table, left out of the JSON). */
  readonly skip?: string;
  run(x: Float32Array, count: number, batch: number, labels: Int32Array): Promise<void>;
  /** MACs per sample of the last run, where the contender counts them. */
  macsPerSample?: number;
  dispose?(): void;
}

export interface Measurement {
  /** id → per-round µs per sample at batch 1. */
  batch1Us: Map<string, number[]>;
  /** id → per-round samples per second at batch 64. */
  batch64Sps: Map<string, number[]>;
  /** id → labels of round 1's batch-1 pass. */
  labels: Map<string, Int32Array>;
  /** id → samples whose batch-64 label differs from the batch-1 label (round 1). */
  batchMismatch: Map<string, number>;
}

export const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Fraction of positions where a and b hold the same label. */
export function agreement(a: Int32Array, b: Int32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

/** Runs c over x (cycling) at `batch` until `seconds` have passed. */
async function warmUp(c: Contender, x: Float32Array, count: number, batch: number, seconds: number, scratch: Int32Array): Promise<void> {
  const chunk = Math.min(count, batch === 1 ? 100 : 4 * batch);
  const end = performance.now() + seconds * 1000;
  do await c.run(x, chunk, batch, scratch);
  while (performance.now() < end);
}

/**
 * Warms every runnable contender up (onnxruntime-web needs about 2,000 batch-1 runs to reach its steady
 * speed), then runs `rounds` rounds; each round runs every contender once over the
 * same `count` samples at batch 1, then every contender once at batch `big`. The order of contenders rotates by
 * one each round so no contender always runs first or right after the same neighbour.
 */
/** CPU time of this process (user + system, every thread), ms: what the bench times with --cpu-time. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export async function measure(contenders: Contender[], x: Float32Array, count: number, opts: { rounds: number; big: number; warmupSeconds: number; log: (s: string) => void; clock?: () => number }): Promise<Measurement> {
  const now = opts.clock ?? (() => performance.now());
  const live = contenders.filter((c) => !c.skip);
  const m: Measurement = { batch1Us: new Map(), batch64Sps: new Map(), labels: new Map(), batchMismatch: new Map() };
  const scratch = new Int32Array(count);
  for (const c of live) {
    m.batch1Us.set(c.id, []);
    m.batch64Sps.set(c.id, []);
    m.labels.set(c.id, new Int32Array(count));
    await warmUp(c, x, count, 1, opts.warmupSeconds, scratch);
    await warmUp(c, x, count, opts.big, opts.warmupSeconds / 2, scratch);
  }
  for (let r = 0; r < opts.rounds; r++) {
    const order = live.map((_, i) => live[(i + r) % live.length]);
    for (const c of order) {
      const out = r === 0 ? m.labels.get(c.id)! : scratch;
      const t0 = now();
      await c.run(x, count, 1, out);
      m.batch1Us.get(c.id)!.push(((now() - t0) * 1000) / count);
    }
    for (const c of order) {
      const t0 = now();
      await c.run(x, count, opts.big, scratch);
      m.batch64Sps.get(c.id)!.push((count * 1000) / (now() - t0));
      if (r === 0) {
        const ref = m.labels.get(c.id)!;
        m.batchMismatch.set(c.id, count - Math.round(agreement(ref, scratch) * count));
      }
    }
    opts.log(`round ${r + 1}/${opts.rounds}`);
  }
  return m;
}
