/* SPDX-License-Identifier: MIT */
/* The linked core's version (include/mmkit/version.h). */
#include <mmkit/version.h>

const char *mmk_version(void)
{
	return MMK_VERSION_STRING;
}
