/* rankgate's MVP Wasm module (build/rankgate-mvp.wasm) on wasm3, bare metal under QEMU: the module and a job
 * (bench/wasm-job.ts: Engine's arena image and its run_batch_s8 calls) are linked in flash as case 0 of
 * rg_bench_cases (module, module end, job, job end). As test/wasm-hosts/host-common.h does on a host, it loads the
 * module, grows linear memory, copies the image, and per call copies the samples in and calls run_batch_s8; it
 * prints one FNV-1a checksum over every call's status (i32 LE) and dumped ranges, which bench/qemu.ts computes
 * from runJob in Node. The calls run twice: the first pass lets wasm3 compile the functions (it compiles
 * lazily, on first call); the second is checksummed and each of its calls bracketed by rg_board_mark(). wasm3 is built from the upstream tarball under
 * build/; its heap is newlib-nano's malloc over the RAM between .bss and the stack (_sbrk below). */
#include <stdint.h>
#include <string.h>
#include "wasm3.h"
#include "m3_env.h"
#include "semihost.h"

extern const uint8_t *const rg_bench_cases[];
extern uint32_t __bss_end[], __stack_top[];

#define STACK_RESERVE 16384u

/* Heap for malloc: from the end of .bss up to STACK_RESERVE below the stack top */
void *_sbrk(intptr_t delta) {
  static uint8_t *brk;
  uint8_t *old;
  if (!brk) brk = (uint8_t *)__bss_end;
  old = brk;
  if (delta > 0 && (uintptr_t)(brk + delta) > (uintptr_t)__stack_top - STACK_RESERVE) return (void *)-1;
  brk += delta;
  return old;
}

static uint8_t *heap_top(void) { return (uint8_t *)_sbrk(0); }

static const uint8_t *job;
static uint32_t job_left;

static uint32_t take_u32(void) {
  uint32_t v;
  if (job_left < 4) return 0;
  v = (uint32_t)job[0] | (uint32_t)job[1] << 8 | (uint32_t)job[2] << 16 | (uint32_t)job[3] << 24;
  job += 4;
  job_left -= 4;
  return v;
}

static const uint8_t *take_bytes(uint32_t n) {
  const uint8_t *p = job;
  uint32_t padded = (n + 3u) & ~3u;
  if (job_left < padded) return NULL;
  job += padded;
  job_left -= padded;
  return p;
}

static uint32_t fnv(uint32_t h, const uint8_t *p, uint32_t n) {
  while (n--) h = (h ^ *p++) * 16777619u;
  return h;
}

static int fail(const char *what, const char *why) {
  rg_board_puts("wasm3-mcu: ");
  rg_board_puts(what);
  rg_board_puts(": ");
  rg_board_puts(why ? why : "?");
  rg_board_puts("\n");
  return 1;
}

int main(void) {
  const uint8_t *wasm = rg_bench_cases[0];
  uint32_t wasm_bytes = (uint32_t)(rg_bench_cases[1] - rg_bench_cases[0]);
  IM3Environment env;
  IM3Runtime runtime;
  IM3Module module;
  IM3Function run_batch, heap_base_fn;
  M3Result r;
  int32_t heap_base = 0;
  uint32_t pages, want_heap_base, image_at, image_bytes, calls, k, pass, h = 2166136261u, mem_bytes = 0, samples = 0, job_calls_left;
  const uint8_t *job_calls;
  const uint8_t *image;
  uint8_t *mem;
  uint8_t *heap_start = heap_top();
  job = rg_bench_cases[2];
  job_left = (uint32_t)(rg_bench_cases[3] - rg_bench_cases[2]);
  if (job_left < 8 || memcmp(job, "RGJOB001", 8) != 0) return fail("job", "not a RGJOB001 file");
  job += 8;
  job_left -= 8;
  env = m3_NewEnvironment();
  if (!env) return fail("m3_NewEnvironment", "out of memory");
  runtime = m3_NewRuntime(env, 8192, NULL);
  if (!runtime) return fail("m3_NewRuntime", "out of memory");
  if ((r = m3_ParseModule(env, &module, wasm, wasm_bytes))) return fail("m3_ParseModule", r);
  if ((r = m3_LoadModule(runtime, module))) return fail("m3_LoadModule", r);
  if ((r = m3_FindFunction(&run_batch, runtime, "run_batch_s8"))) return fail("run_batch_s8", r);
  if ((r = m3_FindFunction(&heap_base_fn, runtime, "heapBase"))) return fail("heapBase", r);
  if ((r = m3_CallV(heap_base_fn)) || (r = m3_GetResultsV(heap_base_fn, &heap_base))) return fail("heapBase", r);
  pages = take_u32();
  want_heap_base = take_u32();
  if ((uint32_t)heap_base != want_heap_base) return fail("heapBase", "differs from the job's");
  if ((uint64_t)pages * 65536u > m3_GetMemorySize(runtime) && (r = ResizeMemory(runtime, pages))) return fail("grow", r);
  mem = m3_GetMemory(runtime, &mem_bytes, 0);
  image_at = take_u32();
  image_bytes = take_u32();
  image = take_bytes(image_bytes);
  if (!mem || !image || (uint64_t)image_at + image_bytes > mem_bytes) return fail("image", "outside linear memory");
  memcpy(mem + image_at, image, image_bytes);
  calls = take_u32();
  job_calls = job;
  job_calls_left = job_left;
  for (pass = 0; pass < 2; pass++) {
  job = job_calls;
  job_left = job_calls_left;
  for (k = 0; k < calls; k++) {
    uint32_t input_at = take_u32(), input_bytes = take_u32(), dumps, d, i;
    const uint8_t *input = take_bytes(input_bytes);
    int32_t a[9], status = 0;
    uint32_t lo, hi;
    uint64_t bits;
    double scale;
    const void *args[10];
    const void *results[1];
    uint8_t s[4];
    for (i = 0; i < 9; i++) a[i] = (int32_t)take_u32();
    lo = take_u32();
    hi = take_u32();
    bits = (uint64_t)lo | (uint64_t)hi << 32;
    memcpy(&scale, &bits, 8);
    if (!input || (uint64_t)input_at + input_bytes > mem_bytes) return fail("input", "outside linear memory");
    memcpy(mem + input_at, input, input_bytes);
    args[0] = &a[0]; args[1] = &a[1]; args[2] = &a[2]; args[3] = &a[3]; args[4] = &a[4]; args[5] = &a[5];
    args[6] = &scale; args[7] = &a[6]; args[8] = &a[7]; args[9] = &a[8];
    results[0] = &status;
    if (pass) rg_board_mark();
    r = m3_Call(run_batch, 10, args);
    if (pass) rg_board_mark();
    if (r || (r = m3_GetResults(run_batch, 1, results))) return fail("run_batch_s8", r);
    if (pass) samples += (uint32_t)a[5];
    s[0] = (uint8_t)status; s[1] = (uint8_t)(status >> 8); s[2] = (uint8_t)(status >> 16); s[3] = (uint8_t)((uint32_t)status >> 24);
    if (pass) h = fnv(h, s, 4);
    dumps = take_u32();
    for (d = 0; d < dumps; d++) {
      uint32_t at = take_u32(), n = take_u32();
      if ((uint64_t)at + n > mem_bytes) return fail("dump", "outside linear memory");
      if (pass) h = fnv(h, mem + at, n);
    }
  }
  }
  rg_board_puts("heap ");
  rg_board_putu((uint32_t)(heap_top() - heap_start));
  rg_board_puts(" memory ");
  rg_board_putu(mem_bytes);
  rg_board_puts("\ncase 0 mode wasm3 samples ");
  rg_board_putu(samples);
  rg_board_puts(" checksum ");
  rg_board_putu(h);
  rg_board_puts("\n");
  return 0;
}
