/* SPDX-License-Identifier: MIT */
#include "checks.h"

const char *demo_run_checks(void)
{
	return "page tables pending (needs include/mmkit/pt.h)";
}

void demo_qmp_dump(void)
{
}
