# mmkit-sources.cmake — the core's sources and flags for a CMake project that
# builds mmkit its own way (without add_subdirectory):
#
#   set(MMKIT_ARCHS riscv64)             # any subset; default: every one
#   include(path/to/mmkit/cmake/mmkit-sources.cmake)
#   add_library(mm STATIC ${MMKIT_SOURCES})
#   target_include_directories(mm PUBLIC ${MMKIT_INCLUDE_DIRS}
#                              PRIVATE ${MMKIT_PRIVATE_INCLUDE_DIRS})
#   target_compile_definitions(mm PRIVATE ${MMKIT_DEFINITIONS})
#   target_compile_options(mm PRIVATE ${MMKIT_C_FLAGS})
#
# Gives (the same as mmkit.mk for make):
#   MMKIT_DIR                   the mmkit tree
#   MMKIT_ALL_ARCHS             every architecture under src/arch
#   MMKIT_LAYERS                every layer folder under src/ (not arch)
#   MMKIT_SOURCES               src/<layer>/*.c and src/arch/<arch>/*.c for
#                               each of MMKIT_ARCHS (new files and layers are
#                               picked up at the next configure)
#   MMKIT_INCLUDE_DIRS          the public headers (what users include)
#   MMKIT_PRIVATE_INCLUDE_DIRS  what the core's own files include as well
#   MMKIT_DEFINITIONS           MMK_CFG_PT_<ARCH>=0 per architecture left out
#   MMKIT_C_FLAGS               -ffreestanding (GCC and clang)
# Compile the core as C11 (C_STANDARD 11) with the kernel's target flags.
get_filename_component(MMKIT_DIR "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)

file(GLOB _mmk_arch_dirs LIST_DIRECTORIES true "${MMKIT_DIR}/src/arch/*")
set(MMKIT_ALL_ARCHS "")
foreach(_d ${_mmk_arch_dirs})
  if(IS_DIRECTORY "${_d}")
    get_filename_component(_a "${_d}" NAME)
    list(APPEND MMKIT_ALL_ARCHS ${_a})
  endif()
endforeach()
list(SORT MMKIT_ALL_ARCHS)
if(NOT MMKIT_ARCHS)
  set(MMKIT_ARCHS ${MMKIT_ALL_ARCHS})
endif()

file(GLOB _mmk_layer_dirs LIST_DIRECTORIES true "${MMKIT_DIR}/src/*")
set(MMKIT_LAYERS "")
set(MMKIT_SOURCES "")
foreach(_d ${_mmk_layer_dirs})
  get_filename_component(_l "${_d}" NAME)
  if(IS_DIRECTORY "${_d}" AND NOT _l STREQUAL "arch")
    list(APPEND MMKIT_LAYERS ${_l})
    file(GLOB _s CONFIGURE_DEPENDS "${_d}/*.c")
    list(APPEND MMKIT_SOURCES ${_s})
  endif()
endforeach()

set(MMKIT_DEFINITIONS "")
foreach(_a ${MMKIT_ARCHS})
  list(FIND MMKIT_ALL_ARCHS ${_a} _i)
  if(_i LESS 0)
    message(FATAL_ERROR "mmkit: unknown architecture '${_a}' in MMKIT_ARCHS "
                        "(known: ${MMKIT_ALL_ARCHS})")
  endif()
  file(GLOB _s CONFIGURE_DEPENDS "${MMKIT_DIR}/src/arch/${_a}/*.c")
  list(APPEND MMKIT_SOURCES ${_s})
endforeach()
foreach(_a ${MMKIT_ALL_ARCHS})
  list(FIND MMKIT_ARCHS ${_a} _i)
  if(_i LESS 0)
    string(TOUPPER ${_a} _u)
    list(APPEND MMKIT_DEFINITIONS MMK_CFG_PT_${_u}=0)
  endif()
endforeach()

set(MMKIT_INCLUDE_DIRS "${MMKIT_DIR}/include")
set(MMKIT_PRIVATE_INCLUDE_DIRS "${MMKIT_DIR}/src")
set(MMKIT_C_FLAGS -ffreestanding)
