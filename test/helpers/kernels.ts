// Places typed arrays in a fresh engine instance's memory and calls kernels on them.
import { instantiateKernels, type KernelExports } from "../../runtime/src/wasm.ts";

type Typed = Int8Array | Int16Array | Int32Array | Uint32Array;

export class KernelHarness {
  private cursor: number;
  private readonly start: number;
  constructor(readonly k: KernelExports) {
    this.start = this.cursor = (k.heapBase() + 15) & ~15;
  }
  static async create(pages = 64): Promise<KernelHarness> {
    const k = await instantiateKernels();
    k.memory.grow(pages);
    return new KernelHarness(k);
  }
  /** Forget every placed array (memory is reused from the start). */
  reset(): void {
    this.cursor = this.start;
  }
  get memoryBytes(): number {
    return this.k.memory.buffer.byteLength;
  }
  /** Copies `data` to a fresh 16-byte aligned offset; returns the offset. */
  put(data: Typed): number {
    const at = this.cursor;
    new Uint8Array(this.k.memory.buffer, at, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.cursor = (at + data.byteLength + 31) & ~15; // one spare 16-byte guard
    return at;
  }
  /** Reserves `bytes` filled with `fill`; returns the offset. */
  reserve(bytes: number, fill = 0): number {
    const at = this.cursor;
    new Uint8Array(this.k.memory.buffer, at, bytes).fill(fill);
    this.cursor = (at + bytes + 31) & ~15;
    return at;
  }
  i8(at: number, n: number): Int8Array {
    return new Int8Array(this.k.memory.buffer, at, n).slice();
  }
  u32(at: number, n: number): Uint32Array {
    return new Uint32Array(this.k.memory.buffer, at, n).slice();
  }
}
