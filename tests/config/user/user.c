/* SPDX-License-Identifier: MIT */
/*
 * A small user of mmkit, as a kernel's own code would be: it embeds the
 * core's structs (struct mmk_frames, sized by MMK_CFG_MAX_CPUS) and calls
 * the core.  Built by tests/config against a core configured the same way
 * (links, runs, says "config ok") or differently (must not link).
 */
#include <mmk_hosted.h>
#include <mmkit/frame.h>

#include <stdio.h>

int main(void)
{
	mmk_hosted_init(64 * MMK_MIB);
	struct mmk_frames *fa = mmk_hosted_frames_new();
	mmk_paddr_t pa;
	if (mmk_frame_alloc(fa, 0, MMK_FRAME_ZERO, &pa) != 0 ||
	    mmk_frame_free(fa, pa) < 0 || mmk_frames_check(fa) != 0) {
		puts("user: the frame allocator misbehaves");
		return 1;
	}
	printf("config ok: %d CPUs, struct mmk_frames of %zu bytes\n",
	       MMK_CFG_MAX_CPUS, sizeof(*fa));
	mmk_hosted_frames_destroy(fa);
	return 0;
}
