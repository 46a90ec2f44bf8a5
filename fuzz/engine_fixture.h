/*
 * fuzz/engine_fixture.h - what the engine harnesses (fuzz_mail, fuzz_archive)
 * share: an engine on the stand-in jail with a real libclamav and the EICAR
 * signature, and memory files.
 */
#ifndef FUZZ_ENGINE_FIXTURE_H
#define FUZZ_ENGINE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include "conf.h"
#include "san.h"

/* Replace the string field *field by value. */
void fuzz_set_str(char **field, const char *value);
/* Start the engine of c for the harness who (c is kept; both are freed at exit). Exits with
 * a message naming who on failure. */
san_engine *fuzz_engine_start(const char *who, conf *c);
/* A memory file holding data, rewound; exits when none can be made. */
int fuzz_memfd(const char *name, const uint8_t *data, size_t size);

#endif
