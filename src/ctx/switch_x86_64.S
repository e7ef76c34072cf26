/* Context switch for x86-64 System V: callee-saved registers, MXCSR and the x87 control word. */
#if defined(__x86_64__) && !defined(AW_FORCE_UCONTEXT)

/*
 * A suspended context's stack, from its saved stack pointer upwards:
 *
 *     sp+0   MXCSR (4 bytes), x87 control word (2 bytes), 2 unused
 *     sp+8   r15, r14, r13, r12, rbx, rbp
 *     sp+56  return address
 *
 * The layout is the same on both sides of a switch, so the CFI below stays
 * true after the stack pointer changes and debuggers can unwind through a
 * suspended context. The saved sp is 16-byte aligned.
 */

    .text

/* void aw__ctx_switch_asm(void **from_sp, void *to_sp) */
    .globl  aw__ctx_switch_asm
    .type   aw__ctx_switch_asm, @function
    .p2align 4
aw__ctx_switch_asm:
    .cfi_startproc
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r12, 0
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r13, 0
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r14, 0
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r15, 0
    subq    $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
    /* Loading only when the control words differ measured no faster on AMD
     * EPYC (each pair of FP control instructions costs ~1.5 ns either way). */
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq    %r15
    .cfi_adjust_cfa_offset -8
    popq    %r14
    .cfi_adjust_cfa_offset -8
    popq    %r13
    .cfi_adjust_cfa_offset -8
    popq    %r12
    .cfi_adjust_cfa_offset -8
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    ret
    .cfi_endproc
    .size   aw__ctx_switch_asm, .-aw__ctx_switch_asm

/* void *aw__ctx_make_asm(void *top, void (*fn)(void *), void *arg)
 * The first frame "returns" into aw__ctx_boot_asm with r12 = fn, r13 = arg, and
 * the caller's FP control state. It sits so that the boot code's stack pointer
 * is 16-byte aligned at its call, as the ABI wants at a call site. */
    .globl  aw__ctx_make_asm
    .type   aw__ctx_make_asm, @function
    .p2align 4
aw__ctx_make_asm:
    .cfi_startproc
    andq    $-16, %rdi
    leaq    -80(%rdi), %rax
    stmxcsr (%rax)
    fnstcw  4(%rax)
    movw    $0, 6(%rax)
    movq    $0, 8(%rax)             /* r15 */
    movq    $0, 16(%rax)            /* r14 */
    movq    %rdx, 24(%rax)          /* r13 = arg */
    movq    %rsi, 32(%rax)          /* r12 = fn */
    movq    $0, 40(%rax)            /* rbx */
    movq    $0, 48(%rax)            /* rbp: ends frame-pointer walks */
    leaq    aw__ctx_boot_asm(%rip), %rcx
    movq    %rcx, 56(%rax)
    movq    $0, 64(%rax)
    movq    $0, 72(%rax)
    ret
    .cfi_endproc
    .size   aw__ctx_make_asm, .-aw__ctx_make_asm

/* The bottom frame of every context: fn(arg), which never returns. */
    .type   aw__ctx_boot_asm, @function
    .p2align 4
aw__ctx_boot_asm:
    .cfi_startproc
    .cfi_undefined %rip             /* the outermost frame: unwinders stop here */
    movq    %r13, %rdi
    callq   *%r12
    ud2
    .cfi_endproc
    .size   aw__ctx_boot_asm, .-aw__ctx_boot_asm

#endif

    .section .note.GNU-stack, "", %progbits
