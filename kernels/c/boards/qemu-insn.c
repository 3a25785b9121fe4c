/* qemu-insn: a QEMU TCG plugin that counts executed guest instructions exactly.
 *
 *   gcc -shared -fPIC -O2 -o build/qemu-insn.so kernels/c/boards/qemu-insn.c
 *   qemu-system-arm ... -plugin build/qemu-insn.so,mark=0x<address>[:0x<address>…],out=<file>
 *
 * Every instruction adds 1 to a counter (an inline add per instruction, so a translation block cut short
 * by an exception is still exact). Each time the instruction at the k-th `mark` address executes (e.g. the
 * entry of rg_board_mark, or of a kernel), the count before it is written as one line "mark <k> <count>";
 * at exit, "total <count>". With `ops=1`, also one line "op <mnemonic> <count>" per executed mnemonic (from
 * QEMU's disassembler, e.g. "smlad", "ldr.w", "bne.n"), loads that directly follow a load in the same
 * translation block counted apart as "<mnemonic>+", register lists as "<mnemonic>/<registers>[/pc]": the
 * instruction mix cycles are derived from (sim/timings.ts). Host side only: built with the host gcc,
 * loaded by qemu-system-arm or qemu-system-riscv32 7.x (plugin API version 1; RISC-V mnemonics such as "lb", "mul",
 * "c.addi"). The few API declarations it needs are written
 * out below because Debian ships no qemu-plugin.h. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct {
  const char *target_name;
  struct { int min; int cur; } version;
  bool system_emulation;
  union { struct { int smp_vcpus; int max_vcpus; } system; };
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr,
                                                uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t count;
#define MAX_MARKS 16
static uint64_t marks[MAX_MARKS];
static size_t n_marks;
static FILE *out;
static int ops;
static int skip_hex; /* RISC-V: QEMU's disassembly starts with the instruction's hex word */

/* Executed-mnemonic counters for ops=1: a small open-addressing table, entries never move */
#define MAX_OPS 1024
static struct { char name[24]; uint64_t count; } op_table[MAX_OPS];
static size_t n_ops;

static uint64_t *op_counter(const char *name) {
  size_t h = 5381, i;
  const char *c;
  for (c = name; *c; c++) h = h * 33 + (unsigned char)*c;
  for (i = 0; i < MAX_OPS; i++) {
    size_t k = (h + i) % MAX_OPS;
    if (op_table[k].name[0] == 0) {
      snprintf(op_table[k].name, sizeof op_table[k].name, "%s", name);
      n_ops++;
      return &op_table[k].count;
    }
    if (strcmp(op_table[k].name, name) == 0) return &op_table[k].count;
  }
  return NULL;
}

static int is_load(const char *m) { return strncmp(m, "ldr", 3) == 0; }

static void on_mark(unsigned int vcpu, void *udata) {
  (void)vcpu;
  fprintf(out, "mark %u %" PRIu64 "\n", (unsigned)(uintptr_t)udata, count);
}

static void on_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  size_t i, k, n = qemu_plugin_tb_n_insns(tb);
  int prev_load = 0;
  (void)id;
  for (i = 0; i < n; i++) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    /* the marker sees the count before its own first instruction */
    for (k = 0; k < n_marks; k++)
      if ((qemu_plugin_insn_vaddr(insn) & ~(uint64_t)1) == marks[k])
        qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)k);
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &count, 1);
    if (ops) {
      char *text = qemu_plugin_insn_disas(insn), *dis = text, name[24];
      uint64_t *counter;
      size_t len;
      if (skip_hex) dis += strcspn(dis, " \t"), dis += strspn(dis, " \t");
      len = strcspn(dis, " \t");
      if (len > 20) len = 20;
      memcpy(name, dis, len);
      name[len] = 0;
      /* register lists (push, pop, ldm, stm): "<mnemonic>/<registers>[/pc]" */
      if (strchr(dis, '{')) {
        const char *c = strchr(dis, '{');
        int regs = 1;
        for (; *c && *c != '}'; c++) regs += *c == ',';
        snprintf(name + len, sizeof name - len, "/%d%s", regs > 99 ? 99 : regs, strstr(dis, "pc}") ? "/pc" : "");
      }
      free(text);
      if (is_load(name) && prev_load) strcat(name, "+");
      prev_load = is_load(name);
      counter = op_counter(name);
      if (counter) qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, counter, 1);
    }
  }
}

static void on_atexit(qemu_plugin_id_t id, void *udata) {
  (void)id;
  (void)udata;
  size_t k;
  for (k = 0; k < MAX_OPS; k++)
    if (op_table[k].count) fprintf(out, "op %s %" PRIu64 "\n", op_table[k].name, op_table[k].count);
  fprintf(out, "total %" PRIu64 "\n", count);
  fflush(out);
  if (out != stderr) fclose(out);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv) {
  int i;
  skip_hex = strncmp(info->target_name, "riscv", 5) == 0;
  out = stderr;
  for (i = 0; i < argc; i++) {
    if (strncmp(argv[i], "mark=", 5) == 0) {
      char *p = argv[i] + 5;
      while (*p) {
        if (n_marks == MAX_MARKS) {
          fprintf(stderr, "qemu-insn: more than %d marks\n", MAX_MARKS);
          return -1;
        }
        marks[n_marks++] = strtoull(p, &p, 0) & ~(uint64_t)1;
        if (*p == ':') p++;
        else if (*p) {
          fprintf(stderr, "qemu-insn: bad mark list %s\n", argv[i] + 5);
          return -1;
        }
      }
    } else if (strcmp(argv[i], "ops=1") == 0) {
      ops = 1;
    } else if (strncmp(argv[i], "out=", 4) == 0) {
      out = fopen(argv[i] + 4, "w");
      if (!out) {
        fprintf(stderr, "qemu-insn: cannot open %s\n", argv[i] + 4);
        return -1;
      }
    } else {
      fprintf(stderr, "qemu-insn: unknown argument %s (expected mark=ADDR[:ADDR…], ops=1 or out=FILE)\n", argv[i]);
      return -1;
    }
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_trans);
  qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
  return 0;
}
