/* SPDX-License-Identifier: MIT */
/* The version is one: header, linked core and the build system agree. */
#include <mmkit/version.h>

#include "mmk_test.h"

#include <stdio.h>
#include <string.h>

static void linked_core_reports_the_header_version(void **state)
{
	(void)state;
	assert_string_equal(mmk_version(), MMK_VERSION_STRING);
}

static void version_string_is_major_minor_patch(void **state)
{
	(void)state;
	char want[32];
	snprintf(want, sizeof(want), "%d.%d.%d", MMK_VERSION_MAJOR,
		 MMK_VERSION_MINOR, MMK_VERSION_PATCH);
	assert_string_equal(MMK_VERSION_STRING, want);
	assert_int_equal(MMK_VERSION, MMK_VERSION_MAJOR * 10000 +
					      MMK_VERSION_MINOR * 100 +
					      MMK_VERSION_PATCH);
}

static void cmake_project_version_is_the_header_version(void **state)
{
	(void)state;
	assert_string_equal(MMK_TEST_PROJECT_VERSION, MMK_VERSION_STRING);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(linked_core_reports_the_header_version),
		cmocka_unit_test(version_string_is_major_minor_patch),
		cmocka_unit_test(cmake_project_version_is_the_header_version),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
