/* Startup for the QEMU Cortex-M boards (mps2-an386, mps2-an500, microbit, mps3-an547): the vector table,
 * .data copy and .bss clear, the FPU switched on where the core has one, then main(); its return value is
 * the exit status through semihosting. Faults print one line and exit 3. */
#include <stdint.h>
#include "semihost.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[], __stack_top[];
int main(void);

__attribute__((noreturn)) void rg_reset_handler(void) {
  uint32_t *src = __data_load, *dst = __data_start;
  while (dst < __data_end) *dst++ = *src++;
  for (dst = __bss_start; dst < __bss_end; ) *dst++ = 0;
#if defined(__ARM_FP)
  /* CPACR: full access to CP10 and CP11 */
  *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
  rg_board_exit(main());
}

static __attribute__((noreturn)) void fault(void) {
  rg_board_puts("rg-board: fault\n");
  rg_board_exit(3);
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
  (void (*)(void))(uintptr_t)__stack_top, rg_reset_handler,
  fault, fault, fault, fault, fault, 0, 0, 0, 0, fault, fault, 0, fault, fault,
};
