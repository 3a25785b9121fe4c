// Plain-JS float kernels for the "js" training compute: one register-blocked GEMM form (C = A·Bᵀ,
// both operands contiguous along K) and a transpose; the other GEMM forms are a transpose plus this one.

/** C[m][n] = Σ_k A[m][k]·B[n][k]; the plain loop the blocked kernel is tested against. */
export function gemmNT_f32_ref(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let p = 0; p < k; p++) acc += a[i * k + p] * b[j * k + p];
      c[i * n + j] = acc;
    }
  }
}

/**
 * C[m][n] = Σ_k A[m][k]·B[n][k] (A: m×k, B: n×k, C: m×n, all row-major), 4×4 register blocks, double
 * accumulators. Loop order: 4 rows of B outer, so B streams once and A stays in cache.
 */
export function gemmNT_f32(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number): void {
  const m4 = m & ~3, n4 = n & ~3;
  for (let j = 0; j < n4; j += 4) {
    const b0 = j * k, b1 = b0 + k, b2 = b1 + k, b3 = b2 + k;
    for (let i = 0; i < m4; i += 4) {
      const a0 = i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let p = 0; p < k; p++) {
        const x0 = a[a0 + p], x1 = a[a1 + p], x2 = a[a2 + p], x3 = a[a3 + p];
        const y0 = b[b0 + p], y1 = b[b1 + p], y2 = b[b2 + p], y3 = b[b3 + p];
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
        c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
        c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
      }
      let o = i * n + j;
      c[o] = c00; c[o + 1] = c01; c[o + 2] = c02; c[o + 3] = c03; o += n;
      c[o] = c10; c[o + 1] = c11; c[o + 2] = c12; c[o + 3] = c13; o += n;
      c[o] = c20; c[o + 1] = c21; c[o + 2] = c22; c[o + 3] = c23; o += n;
      c[o] = c30; c[o + 1] = c31; c[o + 2] = c32; c[o + 3] = c33;
    }
    // Leftover rows of A
    for (let i = m4; i < m; i++) {
      const a0 = i * k;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let p = 0; p < k; p++) {
        const x = a[a0 + p];
        s0 += x * b[b0 + p]; s1 += x * b[b1 + p]; s2 += x * b[b2 + p]; s3 += x * b[b3 + p];
      }
      const o = i * n + j;
      c[o] = s0; c[o + 1] = s1; c[o + 2] = s2; c[o + 3] = s3;
    }
  }
  // Leftover rows of B
  for (let j = n4; j < n; j++) {
    const b0 = j * k;
    for (let i = 0; i < m; i++) {
      const a0 = i * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += a[a0 + p] * b[b0 + p];
      c[i * n + j] = s;
    }
  }
}

/** out[c][r] = x[r][c] for an r×c row-major matrix; 8×8 tiles. */
export function transpose_f32(x: Float32Array, rows: number, cols: number, out: Float32Array): void {
  for (let r0 = 0; r0 < rows; r0 += 8) {
    const r1 = Math.min(r0 + 8, rows);
    for (let c0 = 0; c0 < cols; c0 += 8) {
      const c1 = Math.min(c0 + 8, cols);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = x[r * cols + c];
    }
  }
}
