/* Context switch for AArch64 (AAPCS64): x19-x30, d8-d15 and FPCR. */
#if defined(__aarch64__) && !defined(AW_FORCE_UCONTEXT)

/*
 * A suspended context's stack, from its saved stack pointer upwards (176 bytes,
 * so sp stays 16-byte aligned):
 *
 *     sp+0    x19 x20 x21 x22 x23 x24 x25 x26 x27 x28
 *     sp+80   x29 (frame pointer), x30 (return address)
 *     sp+96   d8 .. d15
 *     sp+160  FPCR, 8 unused
 */

    .text

/* void aw__ctx_switch_asm(void **from_sp, void *to_sp) */
    .globl  aw__ctx_switch_asm
    .type   aw__ctx_switch_asm, %function
    .p2align 4
aw__ctx_switch_asm:
    .cfi_startproc
    sub     sp, sp, #176
    .cfi_def_cfa_offset 176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    .cfi_offset x19, -176
    .cfi_offset x20, -168
    .cfi_offset x21, -160
    .cfi_offset x22, -152
    .cfi_offset x23, -144
    .cfi_offset x24, -136
    .cfi_offset x25, -128
    .cfi_offset x26, -120
    .cfi_offset x27, -112
    .cfi_offset x28, -104
    .cfi_offset x29, -96
    .cfi_offset x30, -88
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    str     x9, [sp, #160]
    mov     x10, sp
    str     x10, [x0]
    mov     sp, x1
    ldr     x10, [sp, #160]
    /* Writing FPCR can stall the pipeline; nearly every context runs with the
     * same FP control state, so write only when it differs. */
    cmp     x9, x10
    b.eq    1f
    msr     fpcr, x10
1:
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #176
    .cfi_def_cfa_offset 0
    ret
    .cfi_endproc
    .size   aw__ctx_switch_asm, .-aw__ctx_switch_asm

/* void *aw__ctx_make_asm(void *top, void (*fn)(void *), void *arg)
 * The first frame "returns" into aw__ctx_boot_asm with x19 = fn, x20 = arg and
 * the caller's FPCR; the boot code then runs with sp = top, 16-byte aligned. */
    .globl  aw__ctx_make_asm
    .type   aw__ctx_make_asm, %function
    .p2align 4
aw__ctx_make_asm:
    .cfi_startproc
    and     x0, x0, #0xfffffffffffffff0
    sub     x0, x0, #176
    stp     x1, x2, [x0, #0]
    stp     xzr, xzr, [x0, #16]
    stp     xzr, xzr, [x0, #32]
    stp     xzr, xzr, [x0, #48]
    stp     xzr, xzr, [x0, #64]
    adr     x9, aw__ctx_boot_asm
    stp     xzr, x9, [x0, #80]      /* x29 = 0 ends frame-pointer walks */
    stp     xzr, xzr, [x0, #96]
    stp     xzr, xzr, [x0, #112]
    stp     xzr, xzr, [x0, #128]
    stp     xzr, xzr, [x0, #144]
    mrs     x9, fpcr
    stp     x9, xzr, [x0, #160]
    ret
    .cfi_endproc
    .size   aw__ctx_make_asm, .-aw__ctx_make_asm

/* The bottom frame of every context: fn(arg), which never returns. */
    .type   aw__ctx_boot_asm, %function
    .p2align 4
aw__ctx_boot_asm:
    .cfi_startproc
    .cfi_undefined x30              /* the outermost frame: unwinders stop here */
    mov     x0, x20
    blr     x19
    brk     #0
    .cfi_endproc
    .size   aw__ctx_boot_asm, .-aw__ctx_boot_asm

#endif

    .section .note.GNU-stack, "", %progbits
