CC := clang
LD := ld.lld
ARCH_CFLAGS := -DMMK_CFG_PT_ONLY_X86_64 --target=x86_64-unknown-elf -mno-red-zone -mgeneral-regs-only \
	-mcmodel=small -DDEMO_KSPACE=1
LDFLAGS := -m elf_x86_64
