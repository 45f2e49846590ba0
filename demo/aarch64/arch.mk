CC := clang
LD := ld.lld
ARCH_CFLAGS := -DMMK_CFG_PT_ONLY_AARCH64 --target=aarch64-unknown-elf -mgeneral-regs-only -mstrict-align -DDEMO_KSPACE=1
LDFLAGS := -m aarch64elf
# User processes (demo/common/uproc.h): their window in the 39-bit TTBR0
# half, above the identity map (RAM at 1 GiB, MMIO below it), up to the
# end of the half.  User code: EL0, no FP/SIMD (the kernel does not save
# those registers and leaves CPACR_EL1.FPEN off); the small code model
# (adrp, +-4 GiB) reaches everything of a program linked at 4 GiB.
DEMO_USER_BASE := 0x100000000
DEMO_USER_TOP := 0x8000000000
USER_CFLAGS := --target=aarch64-unknown-elf -mgeneral-regs-only
