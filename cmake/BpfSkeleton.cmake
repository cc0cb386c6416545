# ct_add_bpf_skeleton(NAME <name> SOURCE <x.bpf.c> [HEADERS ...])
# Compiles a BPF program with clang for the BPF target against a vmlinux.h
# generated from this machine's kernel BTF, then embeds it as a libbpf skeleton
# header (<name>.skel.h) behind the INTERFACE target <name>_skel.
find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
set(CT_VMLINUX_BTF "/sys/kernel/btf/vmlinux" CACHE FILEPATH "Kernel BTF used to generate vmlinux.h")

execute_process(COMMAND ${BPF_CLANG} --version OUTPUT_VARIABLE _clang_version)
if(_clang_version MATCHES "clang version ([0-9]+)" AND CMAKE_MATCH_1 LESS 12)
  message(FATAL_ERROR "BPF programs need clang >= 12 (found ${CMAKE_MATCH_1})")
endif()
if(NOT EXISTS ${CT_VMLINUX_BTF})
  message(FATAL_ERROR "${CT_VMLINUX_BTF} is missing: ct needs a kernel built with CONFIG_DEBUG_INFO_BTF=y")
endif()

set(CT_BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpf-gen)
add_custom_command(
  OUTPUT ${CT_BPF_GEN_DIR}/vmlinux.h
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CT_BPF_GEN_DIR}
  COMMAND ${BPFTOOL} btf dump file ${CT_VMLINUX_BTF} format c > ${CT_BPF_GEN_DIR}/vmlinux.h
  COMMENT "Generating vmlinux.h from ${CT_VMLINUX_BTF}"
  VERBATIM)
add_custom_target(ct_vmlinux_h DEPENDS ${CT_BPF_GEN_DIR}/vmlinux.h)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(CT_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(CT_BPF_ARCH arm64)
else()
  message(FATAL_ERROR "unsupported architecture for BPF: ${CMAKE_SYSTEM_PROCESSOR}")
endif()

function(ct_add_bpf_skeleton)
  cmake_parse_arguments(ARG "" "NAME;SOURCE" "HEADERS" ${ARGN})
  set(obj ${CT_BPF_GEN_DIR}/${ARG_NAME}.bpf.o)
  set(linked ${CT_BPF_GEN_DIR}/${ARG_NAME}.linked.o)
  set(skel ${CT_BPF_GEN_DIR}/${ARG_NAME}.skel.h)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPF_CLANG} -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_${CT_BPF_ARCH}
            -I${CT_BPF_GEN_DIR} -I${CMAKE_SOURCE_DIR}/bpf -c ${ARG_SOURCE} -o ${obj}
    COMMAND ${BPFTOOL} gen object ${linked} ${obj}
    COMMAND ${BPFTOOL} gen skeleton ${linked} name ${ARG_NAME} > ${skel}
    DEPENDS ${ARG_SOURCE} ${ARG_HEADERS} ${CT_BPF_GEN_DIR}/vmlinux.h
    COMMENT "Building BPF skeleton ${ARG_NAME}"
    VERBATIM)
  add_custom_target(${ARG_NAME}_skel_gen DEPENDS ${skel})
  # vmlinux.h is made by a rule of the top directory: Makefile generators only see it
  # through this target-level dependency (Ninja would find it either way).
  add_dependencies(${ARG_NAME}_skel_gen ct_vmlinux_h)
  add_library(${ARG_NAME}_skel INTERFACE)
  add_dependencies(${ARG_NAME}_skel ${ARG_NAME}_skel_gen)
  target_include_directories(${ARG_NAME}_skel SYSTEM INTERFACE ${CT_BPF_GEN_DIR})
  target_link_libraries(${ARG_NAME}_skel INTERFACE PkgConfig::LIBBPF PkgConfig::LIBELF)
endfunction()
