CC := clang-16
LD := $(shell $(ROOT)/tools/loongarch-ld.sh)
ARCH_CFLAGS := -DMMK_CFG_PT_ONLY_LOONGARCH64 -DDEMO_NX_VIA_TLB --target=loongarch64-unknown-elf -march=loongarch64 -mabi=lp64s -DDEMO_KSPACE=1
LDFLAGS := -m elf64loongarch --no-warn-rwx-segments
