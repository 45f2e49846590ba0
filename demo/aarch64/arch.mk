CC := clang
LD := ld.lld
ARCH_CFLAGS := --target=aarch64-unknown-elf -mgeneral-regs-only -mstrict-align
LDFLAGS := -m aarch64elf
