CC := clang
LD := ld.lld
ARCH_CFLAGS := -DMMK_CFG_PT_ONLY_AARCH64 --target=aarch64-unknown-elf -mgeneral-regs-only -mstrict-align -DDEMO_KSPACE=1
LDFLAGS := -m aarch64elf
