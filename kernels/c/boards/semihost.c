/* Semihosting through BKPT 0xAB (Arm semihosting v2, the M-profile trap): r0 = operation, r1 = argument;
 * on RISC-V through the semihosting ebreak sequence (same operations). */
#include "semihost.h"

#define SYS_WRITE0 0x04u
#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

#if defined(__riscv)
/* RISC-V semihosting: a0 = operation, a1 = argument; the uncompressed slli/ebreak/srai trio must sit in one
 * page, so it is a function of its own, 16-byte aligned */
uint32_t rg_board_semihost_trap(uint32_t op, const void *arg);
__asm__(".section .text.rg_board_semihost_trap, \"ax\", @progbits\n\t.balign 16\n\t.globl rg_board_semihost_trap\n"
        "rg_board_semihost_trap:\n\t.option push\n\t.option norvc\n\t.option norelax\n\t"
        "slli x0, x0, 0x1f\n\tebreak\n\tsrai x0, x0, 7\n\tret\n\t.option pop\n\t.text");
static uint32_t semihost(uint32_t op, const void *arg) { return rg_board_semihost_trap(op, arg); }
#else
static uint32_t semihost(uint32_t op, const void *arg) {
  register uint32_t r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}
#endif

void rg_board_puts(const char *s) { (void)semihost(SYS_WRITE0, s); }

void rg_board_putu(uint32_t v) {
  char buf[11];
  int i = 10;
  buf[10] = 0;
  do {
    /* no hardware divide on Thumb-1: libgcc's __aeabi_uidivmod */
    buf[--i] = (char)('0' + v % 10u);
    v /= 10u;
  } while (v);
  rg_board_puts(buf + i);
}

void rg_board_puti(int32_t v) {
  if (v < 0) {
    rg_board_puts("-");
    rg_board_putu(0u - (uint32_t)v);
  } else {
    rg_board_putu((uint32_t)v);
  }
}

void rg_board_exit(int status) {
  uint32_t block[2];
  block[0] = ADP_STOPPED_APPLICATION_EXIT;
  block[1] = (uint32_t)status;
  for (;;) (void)semihost(SYS_EXIT_EXTENDED, block);
}

__attribute__((noinline, used)) void rg_board_mark(void) { __asm__ volatile("" ::: "memory"); }
