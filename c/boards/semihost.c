/* Semihosting through BKPT 0xAB (Arm semihosting v2, the M-profile trap): r0 = operation, r1 = argument. */
#include "semihost.h"

#define SYS_WRITE0 0x04u
#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static uint32_t semihost(uint32_t op, const void *arg) {
  register uint32_t r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

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
