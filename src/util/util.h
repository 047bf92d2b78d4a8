/* Small helpers more than one part of the library needs: string hashing,
 * UTF-8 decoding, the UTF-8 character-class locale and a monotonic clock. */
#ifndef LO_UTIL_H
#define LO_UTIL_H

#include <locale.h>
#include <stdint.h>

/* 64-bit FNV-1a of a NUL-terminated string: cheap, and stable across runs
 * and machines (file names made from it must not change). */
uint64_t lo_fnv1a64(const char *s);

/* Decodes one UTF-8 code point at s into *cp; returns its length in bytes,
 * or 0 for a byte that does not start a valid sequence. */
int lo_utf8_decode(const unsigned char *s, unsigned *cp);

/* glibc's C.UTF-8 LC_CTYPE locale, for classifying code points beyond ASCII
 * whatever the process locale is (it may be "C"); (locale_t)0 when the
 * system lacks it. Created once, on first use from any thread, and kept for
 * the life of the process. */
locale_t lo_utf8_locale(void);

/* Seconds on the monotonic clock (for intervals: profiles, the writer's
 * time, a generator's thread trial). */
double lo_seconds_now(void);

#endif
