// A minimal .npz reader for the exporter fixtures' reference outputs (np.savez: stored zip, zip64 extra fields,
// little-endian .npy v1/v2 of u1/i8/f4/f8). Tests only; the data module reads user files.
import { inflateRawSync } from "node:zlib";

export interface NpyArray {
  shape: number[];
  data: Float64Array;
}

function parseNpy(b: Uint8Array, name: string): NpyArray {
  if (b[0] !== 0x93 || String.fromCharCode(...b.subarray(1, 6)) !== "NUMPY") throw new Error(`${name}: not .npy`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const [len, start] = b[6] === 1 ? [v.getUint16(8, true), 10] : [v.getUint32(8, true), 12];
  const header = new TextDecoder().decode(b.subarray(start, start + len));
  const descr = /'descr':\s*'([^']+)'/.exec(header)![1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)![1].split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${name}: fortran order`);
  const n = shape.reduce((a, c) => a * c, 1);
  const at = start + len;
  const data = new Float64Array(n);
  const d = new DataView(b.buffer, b.byteOffset + at, b.byteLength - at);
  for (let i = 0; i < n; i++) {
    if (descr === "|u1") data[i] = d.getUint8(i);
    else if (descr === "<f4") data[i] = d.getFloat32(4 * i, true);
    else if (descr === "<f8") data[i] = d.getFloat64(8 * i, true);
    else if (descr === "<i8") data[i] = Number(d.getBigInt64(8 * i, true));
    else throw new Error(`${name}: dtype ${descr}`);
  }
  return { shape, data };
}

/** Arrays of an .npz by name (without ".npy"). */
export function readNpz(bytes: Uint8Array): Record<string, NpyArray> {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<string, NpyArray> = {};
  let p = 0;
  while (p + 30 <= bytes.length && v.getUint32(p, true) === 0x04034b50) {
    const method = v.getUint16(p + 8, true);
    let size = v.getUint32(p + 18, true);
    const nameLen = v.getUint16(p + 26, true), extraLen = v.getUint16(p + 28, true);
    const name = new TextDecoder().decode(bytes.subarray(p + 30, p + 30 + nameLen));
    for (let e = p + 30 + nameLen; e < p + 30 + nameLen + extraLen; ) {
      const id = v.getUint16(e, true), n = v.getUint16(e + 2, true);
      if (id === 1 && size === 0xffffffff) size = Number(v.getBigUint64(e + 4, true));
      e += 4 + n;
    }
    const at = p + 30 + nameLen + extraLen;
    const raw = bytes.subarray(at, at + size);
    const body = method === 8 ? new Uint8Array(inflateRawSync(raw)) : raw;
    out[name.replace(/\.npy$/, "")] = parseNpy(body, name);
    p = at + size;
  }
  return out;
}
