/* Semihosting for the QEMU boards: print and exit through the debugger trap (BKPT 0xAB),
 * plus rg_board_mark(), the call the instruction-count plugin (qemu-insn.c) stamps. No libc. */
#ifndef RG_BOARD_SEMIHOST_H
#define RG_BOARD_SEMIHOST_H
#include <stdint.h>

/* Write a NUL-terminated string to the host's stdout (SYS_WRITE0). */
void rg_board_puts(const char *s);
/* Write an unsigned / signed decimal number. */
void rg_board_putu(uint32_t v);
void rg_board_puti(int32_t v);
/* Exit QEMU with this status (SYS_EXIT_EXTENDED, ADP_Stopped_ApplicationExit). Never returns. */
void rg_board_exit(int status) __attribute__((noreturn));
/* A marker: qemu-insn.so prints the instruction count when it executes. Costs a call and a return. */
void rg_board_mark(void);

#endif
