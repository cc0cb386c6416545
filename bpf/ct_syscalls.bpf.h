/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Syscall numbers the probes look at, per architecture (vmlinux.h has none). */
#ifndef CT_SYSCALLS_BPF_H
#define CT_SYSCALLS_BPF_H

#if defined(__TARGET_ARCH_x86)
#define CT_NR_read 0
#define CT_NR_write 1
#define CT_NR_mmap 9
#define CT_NR_readv 19
#define CT_NR_writev 20
#define CT_NR_connect 42
#define CT_NR_sendto 44
#define CT_NR_recvfrom 45
#define CT_NR_sendmsg 46
#define CT_NR_recvmsg 47
#define CT_NR_recvmmsg 299
#define CT_NR_sendmmsg 307
#define CT_NR_close 3
/* The syscall number at sys_exit (raw tracepoints give only regs and the return value). */
#define CT_SYSCALL_NR(regs) ((long)BPF_CORE_READ((regs), orig_ax))
#define CT_NR_accept 43
#define CT_NR_accept4 288
#elif defined(__TARGET_ARCH_arm64)
#define CT_NR_read 63
#define CT_NR_write 64
#define CT_NR_mmap 222
#define CT_NR_readv 65
#define CT_NR_writev 66
#define CT_NR_connect 203
#define CT_NR_sendto 206
#define CT_NR_recvfrom 207
#define CT_NR_sendmsg 211
#define CT_NR_recvmsg 212
#define CT_NR_recvmmsg 243
#define CT_NR_sendmmsg 269
#define CT_NR_close 57
#define CT_SYSCALL_NR(regs) ((long)BPF_CORE_READ((regs), syscallno))
#define CT_NR_accept 202
#define CT_NR_accept4 242
#else
#error "define the syscall numbers for this architecture"
#endif

#endif /* CT_SYSCALLS_BPF_H */
