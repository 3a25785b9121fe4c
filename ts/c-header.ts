// A C header holding a model as an aligned byte array, for firmware that links the model in flash.

/** `name` must be a C identifier; the array is 16-byte aligned like the engine's arena. */
export function cHeader(bytes: Uint8Array, name: string, comment: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new RangeError(`not a C identifier: ${name}`);
  const upper = name.toUpperCase();
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    lines.push("  " + Array.from(bytes.subarray(i, i + 16), (b) => "0x" + b.toString(16).padStart(2, "0")).join(", ") + ",");
  }
  return `/* ${comment.replace(/\*\//g, "* /")} */
#ifndef ${upper}_H
#define ${upper}_H
#include <stdint.h>

#define ${upper}_LEN ${bytes.length}u

#if defined(_MSC_VER)
__declspec(align(16))
#else
__attribute__((aligned(16)))
#endif
static const uint8_t ${name}[${upper}_LEN] = {
${lines.join("\n")}
};

#endif /* ${upper}_H */
`;
}
