# mmkit.mk — the core's sources and flags for a kernel's own Makefile.
#
#   MMKIT_ARCHS := riscv64                 # any subset; default: every one
#   include path/to/mmkit/mmkit.mk
#   OBJS += $(patsubst %.c,$(O)/%.o,$(MMKIT_SRCS))   # or however you list them
#   $(O)/%.o: CFLAGS += $(MMKIT_CFLAGS)               # for the core's files
#   CFLAGS += $(MMKIT_INCLUDES)                       # for yours (#include <mmkit/...>)
#
# Gives:
#   MMKIT_DIR       the mmkit tree (found from this file's own path)
#   MMKIT_SRCS      every src/<layer>/*.c plus src/arch/<arch>/*.c for each
#                   of MMKIT_ARCHS (absolute paths; new layers and files are
#                   picked up without touching this file)
#   MMKIT_INCLUDES  -I for the public headers, what the kernel's own files need
#   MMKIT_CFLAGS    what the core's files need on top of the kernel's flags:
#                   C11, -ffreestanding, both include directories and
#                   MMK_CFG_PT_<ARCH>=0 for each architecture left out (so any
#                   subset links; see docs/PORTING.md)
# Put the kernel's own target flags (-mcmodel=kernel, -march=..., -mno-red-zone,
# -mgeneral-regs-only...) and MMK_CFG_* options in CFLAGS as usual.  The core
# calls only the kernel's HAL (include/mmkit/hal.h) and memset/memcpy/memmove/
# memcmp.
#
# GNU make 3.81 or later; no shell commands, so it costs nothing at parse time.

MMKIT_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

MMKIT_ALL_ARCHS := $(sort $(notdir $(patsubst %/,%,$(dir $(wildcard $(MMKIT_DIR)/src/arch/*/*.c)))))
MMKIT_ARCHS ?= $(MMKIT_ALL_ARCHS)

MMKIT_UNKNOWN_ARCHS := $(filter-out $(MMKIT_ALL_ARCHS),$(MMKIT_ARCHS))
ifneq ($(MMKIT_UNKNOWN_ARCHS),)
$(error mmkit.mk: unknown architecture(s) $(MMKIT_UNKNOWN_ARCHS); known: $(MMKIT_ALL_ARCHS))
endif

MMKIT_SRCS := $(sort $(filter-out $(MMKIT_DIR)/src/arch/%,$(wildcard $(MMKIT_DIR)/src/*/*.c))) \
	$(sort $(foreach a,$(MMKIT_ARCHS),$(wildcard $(MMKIT_DIR)/src/arch/$(a)/*.c)))

MMKIT_INCLUDES := -I$(MMKIT_DIR)/include

# x86_64 -> MMK_CFG_PT_X86_64=0 for each architecture not chosen.
mmkit__upper = $(subst z,Z,$(subst y,Y,$(subst x,X,$(subst w,W,$(subst v,V,$(subst u,U,$(subst t,T,$(subst s,S,$(subst r,R,$(subst q,Q,$(subst p,P,$(subst o,O,$(subst n,N,$(subst m,M,$(subst l,L,$(subst k,K,$(subst j,J,$(subst i,I,$(subst h,H,$(subst g,G,$(subst f,F,$(subst e,E,$(subst d,D,$(subst c,C,$(subst b,B,$(subst a,A,$(1)))))))))))))))))))))))))))
MMKIT_CFLAGS := -std=c11 -ffreestanding $(MMKIT_INCLUDES) -I$(MMKIT_DIR)/src \
	$(foreach a,$(filter-out $(MMKIT_ARCHS),$(MMKIT_ALL_ARCHS)),-DMMK_CFG_PT_$(call mmkit__upper,$(a))=0)
