CC := clang-16
LD := $(shell $(ROOT)/tools/loongarch-ld.sh)
ARCH_CFLAGS := -DMMK_CFG_PT_ONLY_LOONGARCH64 -DDEMO_NX_VIA_TLB --target=loongarch64-unknown-elf -march=loongarch64 -mabi=lp64s -DDEMO_KSPACE=1
LDFLAGS := -m elf64loongarch --no-warn-rwx-segments
# User processes (demo/common/uproc.h): the user window, above the
# identity map (RAM up to 0xc000_0000, MMIO below), within the 47-bit
# lower half of the 16 KiB 3-level format (PGDL).
DEMO_USER_BASE := 0x100000000
DEMO_USER_TOP := 0x400000000000
USER_CFLAGS := --target=loongarch64-unknown-elf -march=loongarch64 -mabi=lp64s
