CC := clang
LD := ld.lld
ARCH_CFLAGS := -DMMK_CFG_PT_ONLY_RISCV64 --target=riscv64-unknown-elf -march=rv64imac -mabi=lp64 \
	-mcmodel=medany -mno-relax -DDEMO_KSPACE=1
LDFLAGS := -m elf64lriscv
