/* SPDX-License-Identifier: MIT */
/*
 * The one definition of the configuration symbol every file including
 * mmkit's headers refers to (include/mmkit/config.h): code built with other
 * layout options than the core names another symbol and fails to link.
 */
#include <mmkit/config.h>

const char MMK__CFG_SYMBOL = 0;
