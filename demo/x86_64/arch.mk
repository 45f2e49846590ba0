CC := clang
LD := ld.lld
ARCH_CFLAGS := -DMMK_CFG_PT_ONLY_X86_64 --target=x86_64-unknown-elf -mno-red-zone -mgeneral-regs-only \
	-mcmodel=small -DDEMO_KSPACE=1
LDFLAGS := -m elf_x86_64
# User processes (demo/common/uproc.h): the user window lies above all the
# identity map covers (RAM, the local APIC below 4 GiB); programs linked
# there need the large code model (absolute addresses above 2 GiB).  No
# SSE: the kernel saves no FPU state between processes.
DEMO_USER_BASE := 0x100000000
DEMO_USER_TOP := 0x4000000000
USER_CFLAGS := --target=x86_64-unknown-elf -mcmodel=large -mgeneral-regs-only
