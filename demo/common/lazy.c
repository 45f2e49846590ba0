/* SPDX-License-Identifier: MIT */
#include "lazy.h"

#if __has_include(<mmkit/aspace.h>) && 0
/* TODO: plug in once the address-space layer (issue 6) lands. */
#else
const char *demo_check_lazy(struct mmk_pt *kpt, uint64_t page_size)
{
	(void)kpt;
	(void)page_size;
	demo_puts("check lazy: pending (needs aspace)\n");
	return NULL;
}
#endif
