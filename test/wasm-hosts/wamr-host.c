/*
 * rankgate's engine on WAMR (the interpreter this binary is linked against: classic, fast, or fast
 * with SIMD), through its C API (wasm_runtime_*): see host-common.h for the job it runs.
 */
#include "wasm_export.h"

struct Rt {
  wasm_module_t module;
  wasm_module_inst_t inst;
  wasm_exec_env_t exec_env;
  wasm_function_inst_t run_batch, heap_base;
  char error[256];
};

#include "host-common.h"

static const char *rt_version(void) {
  static char v[64];
  uint32_t major, minor, patch;
  wasm_runtime_get_version(&major, &minor, &patch);
  snprintf(v, sizeof v, "WAMR %u.%u.%u", major, minor, patch);
  return v;
}

static const char *rt_load(Rt *rt, uint8_t *wasm, uint32_t bytes) {
  RuntimeInitArgs init;
  memset(&init, 0, sizeof init);
  init.mem_alloc_type = Alloc_With_System_Allocator;
  if (!wasm_runtime_full_init(&init)) return "wasm_runtime_full_init failed";
  rt->module = wasm_runtime_load(wasm, bytes, rt->error, sizeof rt->error);
  if (!rt->module) return rt->error;
  /* No app heap: the module never allocates; the host lays out its arena */
  rt->inst = wasm_runtime_instantiate(rt->module, 64 * 1024, 0, rt->error, sizeof rt->error);
  if (!rt->inst) return rt->error;
  rt->exec_env = wasm_runtime_create_exec_env(rt->inst, 64 * 1024);
  if (!rt->exec_env) return "wasm_runtime_create_exec_env failed";
  rt->run_batch = wasm_runtime_lookup_function(rt->inst, "run_batch_s8");
  rt->heap_base = wasm_runtime_lookup_function(rt->inst, "heapBase");
  if (!rt->run_batch || !rt->heap_base) return "export run_batch_s8 or heapBase missing";
  return NULL;
}

static const char *rt_grow(Rt *rt, uint32_t pages) {
  wasm_memory_inst_t mem = wasm_runtime_get_default_memory(rt->inst);
  uint64_t have = wasm_memory_get_cur_page_count(mem);
  if (have >= pages) return NULL;
  return wasm_runtime_enlarge_memory(rt->inst, pages - have) ? NULL : "wasm_runtime_enlarge_memory failed";
}

static uint8_t *rt_memory(Rt *rt, uint64_t *bytes) {
  wasm_memory_inst_t mem = wasm_runtime_get_default_memory(rt->inst);
  *bytes = wasm_memory_get_cur_page_count(mem) * wasm_memory_get_bytes_per_page(mem);
  return wasm_memory_get_base_address(mem);
}

static const char *call(Rt *rt, wasm_function_inst_t f, uint32_t nargs, wasm_val_t *args, int32_t *out) {
  wasm_val_t result = {.kind = WASM_I32};
  if (!wasm_runtime_call_wasm_a(rt->exec_env, f, 1, &result, nargs, args)) {
    const char *e = wasm_runtime_get_exception(rt->inst);
    return e ? e : "call failed";
  }
  *out = result.of.i32;
  return NULL;
}

static const char *rt_heap_base(Rt *rt, int32_t *out) {
  return call(rt, rt->heap_base, 0, NULL, out);
}

static const char *rt_run_batch(Rt *rt, const int32_t a[9], double scale, int32_t *status) {
  wasm_val_t args[10];
  const int32_t *p = a;
  for (int i = 0; i < 10; i++) {
    if (i == 6) {
      args[i].kind = WASM_F64;
      args[i].of.f64 = scale;
    } else {
      args[i].kind = WASM_I32;
      args[i].of.i32 = *p++;
    }
  }
  return call(rt, rt->run_batch, 10, args, status);
}

int main(int argc, char **argv) {
  Rt rt;
  memset(&rt, 0, sizeof rt);
  return host_main(&rt, argc, argv);
}
