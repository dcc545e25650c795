/*
 * guest.h - the tiny real-mode guest kemari-kvm-check runs
 *
 * Memory map (guest physical = linear, real mode, all segments 0):
 *
 *   0x0000-0x03ff  interrupt vector table; vector 2 (NMI) -> 0000:1100
 *   0x1000         main program (kvmc_guest_code)
 *   0x1100         NMI handler (kvmc_guest_nmi)
 *   0x3000, 0x5000, 0x9000   pages the guest dirties before the checkpoint
 *   0x6000-0x6fff  stack page (SP starts at 0x7000)
 *   0xa000         page the guest dirties after the checkpoint
 *   0x0000-0xbfff  the whole RAM slot (KVMC_RAM_PAGES pages)
 *   0xd000, 0xd001 no memory slot: accesses exit with KVM_EXIT_MMIO
 *
 * The constants below name the address of every instruction the host
 * checks; tests/unit/test-kvm-check.c verifies them against the bytes.
 */
#ifndef KEMARI_KVM_CHECK_GUEST_H
#define KEMARI_KVM_CHECK_GUEST_H

#include <stddef.h>
#include <stdint.h>

#define KVMC_PAGE_SIZE 0x1000
#define KVMC_RAM_PAGES 12                   /* slot 0: 0x0000-0xbfff */
#define KVMC_RAM_SIZE (KVMC_RAM_PAGES * KVMC_PAGE_SIZE)

#define KVMC_CODE_GPA 0x1000                /* where kvmc_guest_code goes */
#define KVMC_NMI_GPA 0x1100                 /* where kvmc_guest_nmi goes */
#define KVMC_STACK_TOP 0x7000               /* initial SP (SS = 0) */
#define KVMC_STACK_PAGE 6

#define KVMC_MMIO_WRITE_GPA 0xd000          /* byte written: 0xa5 */
#define KVMC_MMIO_READ_GPA 0xd001           /* byte read */

#define KVMC_PORT_OUT 0x500                 /* OUT al ('K' = 0x4b) */
#define KVMC_PORT_IN 0x501                  /* IN al */
#define KVMC_PORT_CKPT 0x502                /* OUT ax = IN value << 8 | MMIO */
#define KVMC_PORT_TSC 0x503                 /* OUT eax twice: TSC lo, hi */
#define KVMC_PORT_NMI 0x504                 /* OUT al ('N') from the NMI */
#define KVMC_PORT_SUM 0x505                 /* OUT ax: checksum */

#define KVMC_OUT_BYTE 0x4b                  /* value of the first OUT */
#define KVMC_MMIO_WRITE_BYTE 0xa5           /* value of the MMIO write */
#define KVMC_MMIO_READ_BYTE 0x3c            /* host supplies this to the read */
#define KVMC_IN_BYTE 0x11                   /* host supplies this to the IN */
#define KVMC_NMI_BYTE 0x4e                  /* value the NMI handler sends */

/* Addresses of the checked instructions and of the ones after them. */
#define KVMC_RIP_START 0x1000
#define KVMC_RIP_PIO_OUT 0x1005             /* out dx, al */
#define KVMC_RIP_PIO_OUT_NEXT 0x1006
#define KVMC_RIP_MMIO_WRITE 0x1006          /* mov byte [0xd000], 0xa5 */
#define KVMC_RIP_MMIO_WRITE_NEXT 0x100b
#define KVMC_RIP_MMIO_READ 0x100b           /* mov al, [0xd001] */
#define KVMC_RIP_MMIO_READ_NEXT 0x100e
#define KVMC_RIP_PIO_IN 0x1011              /* in al, dx */
#define KVMC_RIP_PIO_IN_NEXT 0x1012
#define KVMC_RIP_CKPT 0x1023                /* out dx, ax */
#define KVMC_RIP_CKPT_NEXT 0x1024
#define KVMC_RIP_HLT 0x104e                 /* hlt (end of program) */

/* Pages the guest writes before the checkpoint exit, as a bitmap. */
#define KVMC_DIRTY_ROUND1 ((1u << 3) | (1u << 5) | (1u << 9))
/* Pages it writes after the checkpoint (3 again, and 10). */
#define KVMC_DIRTY_ROUND2 ((1u << 3) | (1u << 10))

/* Exits the guest makes after the checkpoint, in order. */
#define KVMC_POST_EXITS 5   /* NMI out, TSC lo, TSC hi, checksum, hlt */

/*
 * The speed test: a second, 64-bit guest (long mode, 4-level paging,
 * one identity-mapped 2 MiB page, CPL 0, the state an ordinary guest
 * kernel runs in) counts ECX down from 2^24 and then exits with an OUT.
 * Hardware runs the loop in about 10 ms; a backend that emulates each
 * instruction needs tens of seconds.
 */
#define KVMC_LM_CODE_GPA 0x1000             /* kvmc_guest_lm */
#define KVMC_LM_PML4_GPA 0x2000             /* PML4 -> PDPT */
#define KVMC_LM_PDPT_GPA 0x3000             /* PDPT -> PD */
#define KVMC_LM_PD_GPA 0x4000               /* PD[0]: 2 MiB page at 0 */
#define KVMC_LM_LOOPS (1u << 24)            /* iterations of dec/jnz */
#define KVMC_LM_BUDGET_MS 2000              /* hardware: ~10 ms */
#define KVMC_PORT_LM 0x506                  /* OUT al ('L') at the end */
#define KVMC_LM_BYTE 0x4c
#define KVMC_RIP_LM_OUT 0x100f              /* out dx, al */

extern const uint8_t kvmc_guest_code[];
extern const size_t kvmc_guest_code_len;
extern const uint8_t kvmc_guest_nmi[];
extern const size_t kvmc_guest_nmi_len;

/*
 * Lay the guest out in a zeroed RAM image of KVMC_RAM_SIZE bytes:
 * program, NMI handler and the IVT entry for vector 2.
 */
void kvmc_guest_load(uint8_t *ram);

extern const uint8_t kvmc_guest_lm[];
extern const size_t kvmc_guest_lm_len;

/* Lay out the 64-bit speed test (code and page tables) in zeroed RAM. */
void kvmc_guest_lm_load(uint8_t *ram);

#endif /* KEMARI_KVM_CHECK_GUEST_H */
