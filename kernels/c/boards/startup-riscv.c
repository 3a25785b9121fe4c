/* Startup for the QEMU RISC-V board (virt, -bios none: the reset ROM jumps to the image's first byte):
 * gp, sp and mtvec set, .data copied and .bss cleared, then main(); its return value is the exit status
 * through semihosting. A trap prints one line and exits 3. The RISC-V twin of startup.c. */
#include <stdint.h>
#include "semihost.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
int main(void);

__attribute__((noreturn, used)) void rg_board_start(void) {
  uint32_t *src = __data_load, *dst = __data_start;
  while (dst < __data_end) *dst++ = *src++;
  for (dst = __bss_start; dst < __bss_end; ) *dst++ = 0;
  rg_board_exit(main());
}

__attribute__((noreturn, used, aligned(4))) void rg_board_trap(void) {
  rg_board_puts("rg-board: fault\n");
  rg_board_exit(3);
}

__attribute__((naked, used, section(".vectors"))) void rg_reset_handler(void) {
  __asm__ volatile(
      ".option push\n\t.option norelax\n\tla gp, __global_pointer$\n\t.option pop\n\t"
      "la sp, __stack_top\n\t"
      "la t0, rg_board_trap\n\t.insn i SYSTEM, 1, x0, t0, 0x305\n\t" /* csrw mtvec, t0 (no Zicsr in -march) */
      "j rg_board_start");
}
