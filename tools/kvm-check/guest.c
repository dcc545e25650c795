/*
 * guest.c - the guest program of kemari-kvm-check, as bytes
 *
 * 16-bit real-mode code, checked with
 *   objdump -D -b binary -mi8086 --adjust-vma=0x1000
 * CS = DS = ES = SS = 0, IP = 0x1000, SP = 0x7000.  Each exit the host
 * expects is marked "EXIT".  Registers: BL keeps the MMIO-read value,
 * BH the IN value, so the checkpoint OUT proves both reached the guest.
 */
#include "config.h"

#include <string.h>

#include "guest.h"

const uint8_t kvmc_guest_code[] = {
    /* --- phase 1: one exit of each kind --- */
    0xba, 0x00, 0x05,               /* 1000: mov dx, 0x0500            */
    0xb0, 0x4b,                     /* 1003: mov al, 0x4b              */
    0xee,                           /* 1005: out dx, al     EXIT PIO out */
    0xc6, 0x06, 0x00, 0xd0, 0xa5,   /* 1006: mov byte [0xd000], 0xa5
                                     *                EXIT MMIO write   */
    0xa0, 0x01, 0xd0,               /* 100b: mov al, [0xd001]
                                     *                EXIT MMIO read    */
    0x88, 0xc3,                     /* 100e: mov bl, al                */
    0x42,                           /* 1010: inc dx        (dx = 0x501) */
    0xec,                           /* 1011: in al, dx      EXIT PIO in */
    0x88, 0xc7,                     /* 1012: mov bh, al                */
    /* --- phase 2: dirty three known pages --- */
    0x88, 0x1e, 0x00, 0x30,         /* 1014: mov [0x3000], bl          */
    0x88, 0x3e, 0x00, 0x50,         /* 1018: mov [0x5000], bh          */
    0x88, 0x1e, 0x00, 0x90,         /* 101c: mov [0x9000], bl          */
    0x42,                           /* 1020: inc dx        (dx = 0x502) */
    0x89, 0xd8,                     /* 1021: mov ax, bx                */
    0xef,                           /* 1023: out dx, ax
                                     *        EXIT checkpoint (0x113c)  */
    /* --- phase 3: after the checkpoint; the NMI arrives first --- */
    0x0f, 0x31,                     /* 1024: rdtsc                     */
    0x66, 0x89, 0xd6,               /* 1026: mov esi, edx              */
    0xba, 0x03, 0x05,               /* 1029: mov dx, 0x0503            */
    0x66, 0xef,                     /* 102c: out dx, eax    EXIT TSC lo */
    0x66, 0x89, 0xf0,               /* 102e: mov eax, esi              */
    0x66, 0xef,                     /* 1031: out dx, eax    EXIT TSC hi */
    0x89, 0xd8,                     /* 1033: mov ax, bx                */
    0xbe, 0x00, 0x10,               /* 1035: mov si, 0x1000            */
    0xb9, 0x80, 0x00,               /* 1038: mov cx, 0x0080            */
    0x03, 0x04,                     /* 103b: add ax, [si]   (checksum)  */
    0xc1, 0xc0, 0x03,               /* 103d: rol ax, 3                 */
    0x46,                           /* 1040: inc si                    */
    0x46,                           /* 1041: inc si                    */
    0xe2, 0xf7,                     /* 1042: loop 0x103b               */
    0xa3, 0x00, 0x30,               /* 1044: mov [0x3000], ax          */
    0xa3, 0x00, 0xa0,               /* 1047: mov [0xa000], ax          */
    0xba, 0x05, 0x05,               /* 104a: mov dx, 0x0505            */
    0xef,                           /* 104d: out dx, ax  EXIT checksum */
    0xf4,                           /* 104e: hlt            EXIT HLT    */
};
const size_t kvmc_guest_code_len = sizeof(kvmc_guest_code);

/* NMI handler: report itself on port 0x504, leave registers intact. */
const uint8_t kvmc_guest_nmi[] = {
    0x50,                           /* 1100: push ax                   */
    0x52,                           /* 1101: push dx                   */
    0xba, 0x04, 0x05,               /* 1102: mov dx, 0x0504            */
    0xb0, 0x4e,                     /* 1105: mov al, 0x4e              */
    0xee,                           /* 1107: out dx, al     EXIT NMI    */
    0x5a,                           /* 1108: pop dx                    */
    0x58,                           /* 1109: pop ax                    */
    0xcf,                           /* 110a: iret                      */
};
const size_t kvmc_guest_nmi_len = sizeof(kvmc_guest_nmi);

void
kvmc_guest_load(uint8_t *ram)
{
    /* IVT entry 2 (NMI) at 0x0008: offset then segment, little endian. */
    ram[2 * 4 + 0] = KVMC_NMI_GPA & 0xff;
    ram[2 * 4 + 1] = KVMC_NMI_GPA >> 8;
    ram[2 * 4 + 2] = 0;
    ram[2 * 4 + 3] = 0;
    memcpy(ram + KVMC_CODE_GPA, kvmc_guest_code, kvmc_guest_code_len);
    memcpy(ram + KVMC_NMI_GPA, kvmc_guest_nmi, kvmc_guest_nmi_len);
}

/* 64-bit speed test; objdump -D -b binary -mi386:x86-64. */
const uint8_t kvmc_guest_lm[] = {
    0xb9, 0x00, 0x00, 0x00, 0x01,   /* 1000: mov ecx, 0x01000000 (2^24) */
    0xff, 0xc9,                     /* 1005: dec ecx                   */
    0x75, 0xfc,                     /* 1007: jnz 0x1005                */
    0x66, 0xba, 0x06, 0x05,         /* 1009: mov dx, 0x0506            */
    0xb0, 0x4c,                     /* 100d: mov al, 0x4c              */
    0xee,                           /* 100f: out dx, al  EXIT loop done */
    0xf4,                           /* 1010: hlt                       */
};
const size_t kvmc_guest_lm_len = sizeof(kvmc_guest_lm);

/* Store a little-endian 64-bit page-table entry. */
static void
kvmc_put64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

void
kvmc_guest_lm_load(uint8_t *ram)
{
    /* Present | writable, and PS (2 MiB page) in the PD entry. */
    kvmc_put64(ram + KVMC_LM_PML4_GPA, KVMC_LM_PDPT_GPA | 0x3);
    kvmc_put64(ram + KVMC_LM_PDPT_GPA, KVMC_LM_PD_GPA | 0x3);
    kvmc_put64(ram + KVMC_LM_PD_GPA, 0x0 | 0x83);
    memcpy(ram + KVMC_LM_CODE_GPA, kvmc_guest_lm, kvmc_guest_lm_len);
}
