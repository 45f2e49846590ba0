CC := clang
LD := ld.lld
ARCH_CFLAGS := -DMMK_CFG_PT_ONLY_RISCV64 --target=riscv64-unknown-elf -march=rv64imac -mabi=lp64 \
	-mcmodel=medany -mno-relax -DDEMO_KSPACE=1
LDFLAGS := -m elf64lriscv
# User processes (demo/common/uproc.h): the user window, above the
# identity map (RAM from 0x8000_0000), up to the end of Sv39's lower half.
DEMO_USER_BASE := 0x100000000
DEMO_USER_TOP := 0x4000000000
USER_CFLAGS := --target=riscv64-unknown-elf -march=rv64imac -mabi=lp64 \
	-mcmodel=medany -mno-relax
