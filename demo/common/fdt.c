/* SPDX-License-Identifier: MIT */
/*
 * Just enough of the flattened device tree (DTSpec v0.4 ch. 5) to find RAM:
 * walk the structure block, and for each node named "memory" or
 * "memory@..." directly under the root, add every (address, size) pair of
 * its "reg" property, using the root's #address-cells / #size-cells.
 */
#include "demo.h"

#define FDT_MAGIC      0xd00dfeedu
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE   2
#define FDT_PROP       3
#define FDT_NOP	       4
#define FDT_END	       9

static uint32_t be32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static uint64_t cells(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 32 | be32(p + 4 * i);
	return v;
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static int is_memory_node(const char *name)
{
	const char *m = "memory";
	while (*m && *name == *m)
		m++, name++;
	return !*m && (*name == 0 || *name == '@');
}

int demo_fdt_add_memory(const void *fdt, struct mmk_bootmem *bm,
			uint64_t *fdt_size)
{
	const uint8_t *h = fdt;
	if (be32(h) != FDT_MAGIC)
		return MMK_EINVAL;
	*fdt_size = be32(h + 4);
	const uint8_t *st = h + be32(h + 8);
	const char *strs = (const char *)h + be32(h + 12);
	unsigned acells = 2, scells = 1, depth = 0, found = 0;
	int in_mem = 0;
	for (const uint8_t *p = st;;) {
		uint32_t tok = be32(p);
		p += 4;
		if (tok == FDT_BEGIN_NODE) {
			const char *name = (const char *)p;
			depth++;
			in_mem = depth == 2 && is_memory_node(name);
			size_t len = 0;
			while (name[len])
				len++;
			p += MMK_ALIGN_UP(len + 1, 4);
		} else if (tok == FDT_END_NODE) {
			depth--;
			in_mem = 0;
		} else if (tok == FDT_PROP) {
			uint32_t len = be32(p), nameoff = be32(p + 4);
			const uint8_t *val = p + 8;
			const char *pname = strs + nameoff;
			if (depth == 1 && streq(pname, "#address-cells"))
				acells = be32(val);
			else if (depth == 1 && streq(pname, "#size-cells"))
				scells = be32(val);
			else if (in_mem && streq(pname, "reg")) {
				unsigned step = 4 * (acells + scells);
				for (uint32_t o = 0; o + step <= len;
				     o += step) {
					uint64_t a = cells(val + o, acells);
					uint64_t s = cells(val + o + 4 * acells,
							   scells);
					if (mmk_bootmem_add_ram(bm, mmk_pa(a),
								s) == MMK_OK)
						found++;
				}
			}
			p += 8 + MMK_ALIGN_UP(len, 4);
		} else if (tok == FDT_NOP) {
			continue;
		} else {
			break;
		}
	}
	return found ? MMK_OK : MMK_ENOENT;
}
