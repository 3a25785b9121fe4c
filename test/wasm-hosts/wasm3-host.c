/*
 * rankgate's engine on wasm3, through its C API (m3_*): see host-common.h for the job it runs.
 * wasm3's public API has no call to grow linear memory from the host, so the host calls
 * ResizeMemory from wasm3's own m3_env.h (what memory.grow runs inside wasm3).
 */
#include "wasm3.h"
#include "m3_env.h"

struct Rt {
  IM3Environment env;
  IM3Runtime runtime;
  IM3Function run_batch, heap_base;
};

#include "host-common.h"

static const char *rt_version(void) {
  static char v[64];
  snprintf(v, sizeof v, "wasm3 %d.%d.%d", M3_VERSION_MAJOR, M3_VERSION_MINOR, M3_VERSION_REV);
  return v;
}

static const char *rt_load(Rt *rt, uint8_t *wasm, uint32_t bytes) {
  M3Result r;
  IM3Module module;
  rt->env = m3_NewEnvironment();
  if (!rt->env) return "m3_NewEnvironment failed";
  rt->runtime = m3_NewRuntime(rt->env, 64 * 1024, NULL);
  if (!rt->runtime) return "m3_NewRuntime failed";
  if ((r = m3_ParseModule(rt->env, &module, wasm, bytes))) return r;
  if ((r = m3_LoadModule(rt->runtime, module))) return r;
  if ((r = m3_FindFunction(&rt->run_batch, rt->runtime, "run_batch_s8"))) return r;
  if ((r = m3_FindFunction(&rt->heap_base, rt->runtime, "heapBase"))) return r;
  return NULL;
}

static const char *rt_grow(Rt *rt, uint32_t pages) {
  uint32_t size = m3_GetMemorySize(rt->runtime);
  if ((uint64_t)pages * 65536 <= size) return NULL;
  return ResizeMemory(rt->runtime, pages);
}

static uint8_t *rt_memory(Rt *rt, uint64_t *bytes) {
  uint32_t size = 0;
  uint8_t *base = m3_GetMemory(rt->runtime, &size, 0);
  *bytes = base ? size : 0;
  return base;
}

static const char *rt_heap_base(Rt *rt, int32_t *out) {
  M3Result r;
  if ((r = m3_CallV(rt->heap_base))) return r;
  return m3_GetResultsV(rt->heap_base, out);
}

static const char *rt_run_batch(Rt *rt, const int32_t a[9], double scale, int32_t *status) {
  const void *args[10] = {&a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &scale, &a[6], &a[7], &a[8]};
  const void *results[1] = {status};
  M3Result r;
  if ((r = m3_Call(rt->run_batch, 10, args))) return r;
  return m3_GetResults(rt->run_batch, 1, results);
}

int main(int argc, char **argv) {
  Rt rt = {0};
  return host_main(&rt, argc, argv);
}
