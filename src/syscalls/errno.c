/* SPDX-License-Identifier: MIT */
/*
 * mmkit's error codes as Linux's errno, in one table.  A call that gives
 * a code another meaning (madvise's populate: EACCES is EINVAL) says so
 * where it returns.
 */
#include "sys_internal.h"

static const unsigned char errno_of[MMK_ERR_COUNT_] = {
	[-MMK_ENOMEM] = MMK_SYS_ENOMEM,
	[-MMK_EINVAL] = MMK_SYS_EINVAL,
	[-MMK_EALIGN] = MMK_SYS_EINVAL,	   /* misaligned argument */
	[-MMK_ERANGE] = MMK_SYS_ENOMEM,	   /* outside the space: no room */
	[-MMK_EWRAP] = MMK_SYS_EINVAL,	   /* zero or wrapping size */
	[-MMK_ENONCANON] = MMK_SYS_ENOMEM, /* past the address limit */
	[-MMK_EEXIST] = MMK_SYS_EEXIST,
	[-MMK_ENOENT] = MMK_SYS_ENOMEM, /* a hole: Linux's "not mapped" */
	[-MMK_ENOTSUP] = MMK_SYS_EINVAL,
	[-MMK_EFAULT] = MMK_SYS_EFAULT,
	[-MMK_EDOUBLEFREE] = MMK_SYS_EINVAL,
	[-MMK_EBADFREE] = MMK_SYS_EINVAL,
	[-MMK_EREFCOUNT] = MMK_SYS_EINVAL,
	[-MMK_EBUSY] = MMK_SYS_EBUSY,
	[-MMK_EACCES] = MMK_SYS_EACCES,
	[-MMK_EAGAIN] = MMK_SYS_EAGAIN,
};

int mmk_sys_errno(int mmk_err)
{
	if (mmk_err >= 0 || mmk_err <= -MMK_ERR_COUNT_)
		return MMK_SYS_EINVAL;
	return errno_of[-mmk_err];
}
