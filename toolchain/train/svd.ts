// Randomized top-k SVD (Halko, Martinsson & Tropp 2011, algorithms 4.4 + 5.1) of Wᵀ for the estimator
// in the training loop: a Gaussian sketch, power iterations re-orthonormalised by QR, then the exact SVD
// of the small projected matrix. Large products and the Gram–Schmidt QR are plain Float64 loops; ml-matrix does the small SVD.
import { Matrix, SingularValueDecomposition } from "ml-matrix";
import type { Rng } from "../model/random.ts";

/** Rank-k factors of Wᵀ ≈ A·B, the same layout as `svdFactors` in toolchain/quantize/quantize.ts. */
export interface LowRankFactors {
  rank: number;
  /** A = U_k√S, transposed: [rank][nIn]. */
  at: Float64Array;
  /** B = √S V_kᵀ, transposed: [nOut][rank]. */
  bt: Float64Array;
  /** The k leading singular values, descending. */
  singular: Float64Array;
}

export interface TopKSvdOptions {
  /** Extra sketch columns p (sketch width k + p, capped at min(nIn, nOut)). Default max(10, k). */
  oversample?: number;
  /** Power iterations q. Default 4. */
  powerIters?: number;
}

/** Y (nIn × l) = Wᵀ·X for X (nOut × l); weight is [nOut][nIn]. Four rows of W per pass over Y. */
function mulWt(weight: Float32Array, nIn: number, nOut: number, x: Float64Array, l: number): Float64Array {
  const y = new Float64Array(nIn * l);
  let j = 0;
  for (; j + 4 <= nOut; j += 4) {
    const w0 = j * nIn, w1 = w0 + nIn, w2 = w1 + nIn, w3 = w2 + nIn;
    const x0 = j * l, x1 = x0 + l, x2 = x1 + l, x3 = x2 + l;
    for (let i = 0; i < nIn; i++) {
      const a0 = weight[w0 + i], a1 = weight[w1 + i], a2 = weight[w2 + i], a3 = weight[w3 + i];
      const yo = i * l;
      for (let c = 0; c < l; c++) y[yo + c] += a0 * x[x0 + c] + a1 * x[x1 + c] + a2 * x[x2 + c] + a3 * x[x3 + c];
    }
  }
  for (; j < nOut; j++) {
    const wo = j * nIn, xo = j * l;
    for (let i = 0; i < nIn; i++) {
      const a = weight[wo + i], yo = i * l;
      for (let c = 0; c < l; c++) y[yo + c] += a * x[xo + c];
    }
  }
  return y;
}

/** Z (nOut × l) = W·Q for Q (nIn × l). Four columns of W per pass over a row of Z. */
function mulW(weight: Float32Array, nIn: number, nOut: number, q: Float64Array, l: number): Float64Array {
  const z = new Float64Array(nOut * l);
  const i4 = nIn & ~3;
  for (let j = 0; j < nOut; j++) {
    const wo = j * nIn, zo = j * l;
    for (let i = 0; i < i4; i += 4) {
      const a0 = weight[wo + i], a1 = weight[wo + i + 1], a2 = weight[wo + i + 2], a3 = weight[wo + i + 3];
      const q0 = i * l, q1 = q0 + l, q2 = q1 + l, q3 = q2 + l;
      for (let c = 0; c < l; c++) z[zo + c] += a0 * q[q0 + c] + a1 * q[q1 + c] + a2 * q[q2 + c] + a3 * q[q3 + c];
    }
    for (let i = i4; i < nIn; i++) {
      const a = weight[wo + i], qo = i * l;
      for (let c = 0; c < l; c++) z[zo + c] += a * q[qo + c];
    }
  }
  return z;
}

/**
 * Orthonormalises the columns of a rows × cols row-major matrix in place: classical Gram–Schmidt applied
 * twice ("CGS2", as accurate as Householder here). A column that vanishes (rank deficiency) becomes zero.
 */
function orthonormalize(y: Float64Array, rows: number, cols: number): Float64Array {
  const dots = new Float64Array(cols);
  for (let c = 0; c < cols; c++) {
    let before = 0;
    for (let i = 0; i < rows; i++) before += y[i * cols + c] ** 2;
    for (let pass = 0; pass < 2; pass++) {
      // Project out the previous columns
      dots.fill(0, 0, c);
      for (let i = 0; i < rows; i++) {
        const v = y[i * cols + c], o = i * cols;
        for (let d = 0; d < c; d++) dots[d] += y[o + d] * v;
      }
      for (let i = 0; i < rows; i++) {
        const o = i * cols;
        let s = 0;
        for (let d = 0; d < c; d++) s += y[o + d] * dots[d];
        y[o + c] -= s;
      }
    }
    // Normalise
    let norm = 0;
    for (let i = 0; i < rows; i++) norm += y[i * cols + c] ** 2;
    const scale = norm > 1e-24 * Math.max(before, 1e-300) && norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let i = 0; i < rows; i++) y[i * cols + c] *= scale;
  }
  return y;
}

/**
 * Top-k truncated SVD of Wᵀ (nIn × nOut) for `weight` [nOut][nIn], as factors A = U_k√S (at: [k][nIn])
 * and B = √S V_kᵀ (bt: [nOut][k]) so that x·A·B ≈ x·Wᵀ. Exact (to rounding) when k + p ≥ min(nIn, nOut).
 * @param k range [1, min(nIn, nOut)]
 * @param rng draws the Gaussian sketch; same rng state, same factors
 */
export function topKSvd(
  weight: Float32Array, nIn: number, nOut: number, k: number, rng: Rng, opts: TopKSvdOptions = {},
): LowRankFactors {
  const full = Math.min(nIn, nOut);
  if (!(Number.isInteger(k) && k >= 1 && k <= full)) throw new RangeError(`topKSvd: rank ${k} outside [1, ${full}]`);
  if (weight.length !== nIn * nOut) throw new RangeError(`topKSvd: weight has ${weight.length} values, expected ${nIn}×${nOut}`);
  const l = Math.min(full, k + (opts.oversample ?? Math.max(10, k)));
  const iters = opts.powerIters ?? 4;

  // Sketch: Q = orth(Wᵀ Ω)
  const omega = new Float64Array(nOut * l);
  for (let i = 0; i < omega.length; i++) omega[i] = rng.normal();
  let q = orthonormalize(mulWt(weight, nIn, nOut, omega, l), nIn, l);

  // Power iterations: Q = orth(Wᵀ orth(W Q))
  for (let t = 0; t < iters; t++) {
    const z = orthonormalize(mulW(weight, nIn, nOut, q, l), nOut, l);
    q = orthonormalize(mulWt(weight, nIn, nOut, z, l), nIn, l);
  }

  // Small SVD: Qᵀ Wᵀ = (W Q)ᵀ = Ũ Σ Vᵀ, with W Q (nOut × l) = V Σ Ũᵀ
  const wq = mulW(weight, nIn, nOut, q, l);
  const svd = new SingularValueDecomposition(Matrix.from1DArray(nOut, l, wq), { autoTranspose: true });
  const v = svd.leftSingularVectors, ut = svd.rightSingularVectors, s = svd.diagonal;

  // Factors: U = Q Ũ
  const at = new Float64Array(k * nIn), bt = new Float64Array(nOut * k), singular = new Float64Array(k);
  for (let r = 0; r < k; r++) {
    singular[r] = s[r];
    const root = Math.sqrt(s[r]);
    for (let i = 0; i < nIn; i++) {
      let u = 0;
      for (let c = 0; c < l; c++) u += q[i * l + c] * ut.get(c, r);
      at[r * nIn + i] = u * root;
    }
    for (let j = 0; j < nOut; j++) bt[j * k + r] = v.get(j, r) * root;
  }
  return { rank: k, at, bt, singular };
}
