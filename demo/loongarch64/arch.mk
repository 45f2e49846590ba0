CC := clang-16
LD := $(shell $(ROOT)/tools/loongarch-ld.sh)
ARCH_CFLAGS := --target=loongarch64-unknown-elf -march=loongarch64 -mabi=lp64s
LDFLAGS := -m elf64loongarch --no-warn-rwx-segments
