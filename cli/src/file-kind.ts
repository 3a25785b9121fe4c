// What a file a user names is, from its first bytes, so a model given where a checkpoint belongs (or
// the reverse) gets one line saying what the file is and which command takes it, not a field error.
import { UserError, MAGIC } from "../../runtime/src/index.ts";

export type FileKind = "rgm" | "safetensors" | "onnx" | "unknown";

const KIND_NAMES: Record<FileKind, string> = {
  rgm: "a rankgate model",
  safetensors: "a float checkpoint (safetensors)",
  onnx: "an ONNX model",
  unknown: "",
};

/** The kind by magic: "RGMF"; a little-endian u64 header length then "{" (safetensors); an ONNX ModelProto's ir_version field. */
export function fileKind(bytes: Uint8Array): FileKind {
  if (bytes.length >= 4 && String.fromCharCode(...bytes.subarray(0, 4)) === MAGIC) return "rgm";
  if (bytes.length >= 9 && bytes[8] === 0x7b) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (n >= 2n && n <= BigInt(bytes.length - 8)) return "safetensors";
  }
  // Field 1 (ir_version, varint) of ModelProto, then a small version number
  if (bytes.length >= 2 && bytes[0] === 0x08 && bytes[1]! > 0 && bytes[1]! < 0x20) return "onnx";
  return "unknown";
}

const HINTS: Record<"model" | "float", Partial<Record<FileKind, string>>> = {
  model: {
    safetensors: "--model takes a rankgate model (.rgm): run rankgate quantize --float <checkpoint> -o m.rgm first",
    onnx: "--model takes a rankgate model (.rgm): run rankgate import, then rankgate quantize",
  },
  float: {
    rgm: "--float takes a float checkpoint (.safetensors) or run rankgate import first",
    onnx: "--float takes a float checkpoint (.safetensors): run rankgate import first",
  },
};

/** Throws a UserError when `bytes` are recognisably the wrong kind for `want`; unknown kinds pass to the reader. */
export function expectKind(bytes: Uint8Array, path: string, want: "model" | "float"): void {
  const kind = fileKind(bytes);
  const hint = HINTS[want][kind];
  if (hint) throw new UserError(`${path} is ${KIND_NAMES[kind]}; ${hint}`);
}
