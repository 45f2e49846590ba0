/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the release this tree is.
 *
 * The one place the version is written: CMake (project()), Meson and
 * pkg-config read it from here.  MMK_VERSION is one number to compare in
 * #if (0.2.0 is 200, 1.3.12 is 10312); mmk_version() is the version of the
 * core actually linked, which a kernel can print or check against the
 * header it was compiled with.
 */
#ifndef MMKIT_VERSION_H
#define MMKIT_VERSION_H

#define MMK_VERSION_MAJOR  0
#define MMK_VERSION_MINOR  2
#define MMK_VERSION_PATCH  0
#define MMK_VERSION_STRING "0.2.0"

#define MMK_VERSION                                                            \
	(MMK_VERSION_MAJOR * 10000 + MMK_VERSION_MINOR * 100 +                 \
	 MMK_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/** The linked core's version, "MAJOR.MINOR.PATCH"; never NULL, constant. */
const char *mmk_version(void);

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_VERSION_H */
