/** wabt 1.0.32's flags (wasm-validate, wasm-interp) for every feature past WebAssembly 1.0 it enables by default. */
export const WABT_DISABLE_ALL = ["--disable-mutable-globals", "--disable-saturating-float-to-int", "--disable-sign-extension", "--disable-simd",
  "--disable-multi-value", "--disable-bulk-memory", "--disable-reference-types"];
