/*
 * The part of rankgate's Wasm embedding hosts shared by every runtime (wasm3-host.c, wamr-host.c):
 * reads a job written by test/helpers/wasm-job.ts, loads build/rankgate-mvp.wasm through the
 * runtime's C API, grows linear memory, copies the arena image (model image and plan records, laid
 * out as runtime/src/runtime.ts Engine lays them out) to its address, and per call copies the staged samples
 * in, calls the export run_batch_s8 and writes its status and the requested memory ranges out.
 *
 * Job (little-endian): "RGJOB001", u32 pages, u32 heapBase, u32 imageAt, u32 imageBytes, image,
 * u32 calls, then per call: u32 inputAt, u32 inputBytes, input, i32 plan, layers, flags, src,
 * stride, count, out, labels, act, f64 scale, u32 dumps, dumps × (u32 at, u32 bytes).
 * Byte strings are padded to 4. Output: per call, i32 status then each dump's bytes.
 *
 * usage: host module.wasm job.bin out.bin [repeat]
 * With repeat given, the calls run that many times over (the output is the last pass's) and the host
 * prints `ns_per_pass <n>`: the CPU time in run_batch_s8 per pass over all calls
 * (CLOCK_PROCESS_CPUTIME_ID: the host is single-threaded; robust on a shared machine), for the
 * benchmark (bench/runtimes.ts).
 *
 * A host defines, before including this file, `Rt` and the five rt_* functions declared below.
 */
#ifndef RANKGATE_HOST_COMMON_H
#define RANKGATE_HOST_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct Rt Rt;
/* Loads and instantiates the module (bytes stay alive); NULL or an error message. */
static const char *rt_load(Rt *rt, uint8_t *wasm, uint32_t bytes);
/* Grows linear memory to at least `pages` pages. */
static const char *rt_grow(Rt *rt, uint32_t pages);
/* Linear memory's base and size in bytes (valid until the next grow). */
static uint8_t *rt_memory(Rt *rt, uint64_t *bytes);
/* heapBase(). */
static const char *rt_heap_base(Rt *rt, int32_t *out);
/* run_batch_s8(a[0..5], scale, a[6..8]). */
static const char *rt_run_batch(Rt *rt, const int32_t a[9], double scale, int32_t *status);
/* Runtime name and version, one line. */
static const char *rt_version(void);

static void die(const char *what, const char *why) {
  fprintf(stderr, "host: %s: %s\n", what, why);
  exit(1);
}

static uint8_t *read_file(const char *path, uint32_t *bytes) {
  FILE *f = fopen(path, "rb");
  if (!f) die(path, "cannot open");
  if (fseek(f, 0, SEEK_END) != 0) die(path, "cannot seek");
  long n = ftell(f);
  if (n < 0 || n > 0x7fffffff) die(path, "bad size");
  rewind(f);
  uint8_t *buf = malloc(n ? (size_t)n : 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) die(path, "cannot read");
  fclose(f);
  *bytes = (uint32_t)n;
  return buf;
}

typedef struct {
  const uint8_t *p;
  uint32_t left;
} Cursor;

static uint32_t take_u32(Cursor *c) {
  if (c->left < 4) die("job", "truncated");
  uint32_t v = (uint32_t)c->p[0] | (uint32_t)c->p[1] << 8 | (uint32_t)c->p[2] << 16 | (uint32_t)c->p[3] << 24;
  c->p += 4;
  c->left -= 4;
  return v;
}

static double take_f64(Cursor *c) {
  uint64_t lo = take_u32(c), hi = take_u32(c);
  uint64_t bits = lo | hi << 32;
  double d;
  memcpy(&d, &bits, 8);
  return d;
}

static const uint8_t *take_bytes(Cursor *c, uint32_t n) {
  uint32_t padded = (n + 3u) & ~3u;
  if (padded < n || c->left < padded) die("job", "truncated");
  const uint8_t *p = c->p;
  c->p += padded;
  c->left -= padded;
  return p;
}

/* memory[at, at + n) lies inside linear memory. */
static uint8_t *in_memory(Rt *rt, uint32_t at, uint32_t n) {
  uint64_t size;
  uint8_t *base = rt_memory(rt, &size);
  if ((uint64_t)at + n > size) die("job", "range outside linear memory");
  return base + at;
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int host_main(Rt *rt, int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--version") == 0) {
    printf("%s\n", rt_version());
    return 0;
  }
  if (argc < 4 || argc > 5) {
    fprintf(stderr, "usage: %s module.wasm job.bin out.bin [repeat]\n", argv[0]);
    return 2;
  }
  long repeat = argc == 5 ? strtol(argv[4], NULL, 10) : 1;
  if (repeat < 1) die("repeat", "must be a positive integer");
  uint32_t wasm_bytes, job_bytes;
  uint8_t *wasm = read_file(argv[1], &wasm_bytes);
  uint8_t *job = read_file(argv[2], &job_bytes);
  const char *err = rt_load(rt, wasm, wasm_bytes);
  if (err) die("load", err);

  Cursor c = {job, job_bytes};
  if (job_bytes < 8 || memcmp(job, "RGJOB001", 8) != 0) die("job", "not a RGJOB001 file");
  c.p += 8;
  c.left -= 8;
  uint32_t pages = take_u32(&c), heap_base = take_u32(&c);
  int32_t hb;
  if ((err = rt_heap_base(rt, &hb))) die("heapBase", err);
  if ((uint32_t)hb != heap_base) die("heapBase", "differs from the job's (planned for another module)");
  if ((err = rt_grow(rt, pages))) die("grow", err);
  uint32_t image_at = take_u32(&c), image_bytes = take_u32(&c);
  memcpy(in_memory(rt, image_at, image_bytes), take_bytes(&c, image_bytes), image_bytes);

  FILE *out = fopen(argv[3], "wb");
  if (!out) die(argv[3], "cannot open");
  uint32_t calls = take_u32(&c);
  double total_ns = 0;
  for (uint32_t k = 0; k < calls; k++) {
    uint32_t input_at = take_u32(&c), input_bytes = take_u32(&c);
    const uint8_t *input = take_bytes(&c, input_bytes);
    int32_t a[9];
    for (int i = 0; i < 9; i++) a[i] = (int32_t)take_u32(&c);
    double scale = take_f64(&c);
    int32_t status = 0;
    for (long r = 0; r < repeat; r++) {
      memcpy(in_memory(rt, input_at, input_bytes), input, input_bytes);
      double t0 = now_ns();
      if ((err = rt_run_batch(rt, a, scale, &status))) die("run_batch_s8", err);
      total_ns += now_ns() - t0;
    }
    uint8_t s[4] = {(uint8_t)status, (uint8_t)(status >> 8), (uint8_t)(status >> 16), (uint8_t)((uint32_t)status >> 24)};
    fwrite(s, 1, 4, out);
    uint32_t dumps = take_u32(&c);
    for (uint32_t d = 0; d < dumps; d++) {
      uint32_t at = take_u32(&c), n = take_u32(&c);
      fwrite(in_memory(rt, at, n), 1, n, out);
    }
  }
  if (c.left != 0) die("job", "trailing bytes");
  if (fclose(out) != 0) die(argv[3], "cannot write");
  if (argc == 5) printf("ns_per_pass %.0f\n", total_ns / (double)repeat);
  free(job);
  /* wasm stays alive: the runtime may reference it until exit */
  return 0;
}

#endif
