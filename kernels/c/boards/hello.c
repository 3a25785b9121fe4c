/* The smallest image: prints, marks twice, exits 7. bench/qemu.ts builds it for every board as a smoke test. */
#include "semihost.h"
int main(void) { rg_board_puts("hello "); rg_board_puti(-1234567); rg_board_puts("\n"); rg_board_mark(); rg_board_mark(); return 7; }
