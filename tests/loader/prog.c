/* SPDX-License-Identifier: MIT */
/*
 * The program tests/loader loads: never run, only mapped and compared.
 * Read-only data, initialised data ending mid-page, a bss of several
 * pages, so every segment kind and the partial page are there.
 */
const char ro_str[] = "mmkit loader rodata";
/* three pages of read-only bytes: whole file pages to map from the file */
const unsigned char ro_pages[3 * 4096] = {[0] = 1, [4096] = 2, [12287] = 3};
char data_arr[5000] = {1, 2, 3, 4, 5};
char bss_arr[3 * 4096 + 17];

void _start(void)
{
	bss_arr[0] = (char)(data_arr[1] + ro_str[2] + ro_pages[4096]);
	for (;;)
		;
}
