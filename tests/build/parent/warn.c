/* SPDX-License-Identifier: MIT */
/* Code of the parent that warns under -Wall -Wextra: it must still build,
 * since mmkit may not turn -Werror on for its parent. */
int parent_warns(int unused_argument);

int parent_warns(int unused_argument)
{
	int unused_variable;
	return 0;
}
