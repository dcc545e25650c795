/*
 * report.h - print what kemari-kvm-check found, for people or programs
 *
 * Both printers only read their arguments.  The JSON keys are a stable
 * interface (schema KVMC_SCHEMA), documented in kvm-patches/README.md:
 * add keys freely, never change the meaning of one without bumping the
 * schema.
 */
#ifndef KEMARI_KVM_CHECK_REPORT_H
#define KEMARI_KVM_CHECK_REPORT_H

#include <stdio.h>

#include "verdict.h"

/* Human-readable: one line per requirement, the I/O exits, a verdict. */
void kvmc_report_text(FILE *f, const char *device,
                      const struct kvmc_obs *obs,
                      const struct kvmc_result *res);

/* One JSON object followed by a newline. */
void kvmc_report_json(FILE *f, const char *device,
                      const struct kvmc_obs *obs,
                      const struct kvmc_result *res);

/* Exit status of the program for a result: 0 pass, 1 fail. */
int kvmc_exit_code(const struct kvmc_result *res);

#endif /* KEMARI_KVM_CHECK_REPORT_H */
