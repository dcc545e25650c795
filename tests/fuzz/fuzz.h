/*
 * fuzz.h - the libFuzzer entry point every harness in tests/fuzz defines
 *
 * Each harness is built twice: by run-fuzz.sh with clang and
 * -fsanitize=fuzzer,address,undefined, and by make as a replay program
 * (replay.c supplies main()) that feeds it every file of its checked-in
 * corpus, so that gcc builds exercise the same inputs.
 */
#ifndef KEMARI_FUZZ_H
#define KEMARI_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* KEMARI_FUZZ_H */
