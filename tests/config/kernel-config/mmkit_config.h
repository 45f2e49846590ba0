/* SPDX-License-Identifier: MIT */
/*
 * A kernel's mmkit configuration (include/mmkit/config.h reads it when
 * MMK_CFG_USER_CONFIG is defined): tests/config builds the core and its
 * user with it, and the user alone with it against a default core.
 */
#ifndef MMKIT_CONFIG_USER_TEST_H
#define MMKIT_CONFIG_USER_TEST_H

#define MMK_CFG_MAX_CPUS 4

#endif
