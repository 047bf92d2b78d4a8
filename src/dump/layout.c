/* The dump's layout, spelled once: what the writer (generator.c, merge.c)
 * creates and what compare's reader and extract look for. The names
 * themselves are the macros in dump.h, so that messages naming a path can
 * spell it inside their format strings. */
#include <stdio.h>
#include <string.h>

#include "dump.h"

bool lo_dump_sample_dir(char *buf, size_t size, int sample) {
    int n = snprintf(buf, size, LO_DUMP_OUTPUTS "/" LO_DUMP_SAMPLE_PREFIX "%d", sample);
    return n >= 0 && (size_t)n < size;
}

bool lo_dump_input_path(char *buf, size_t size, int sample, const char *ext) {
    int n = snprintf(buf, size, LO_DUMP_INPUTS "/" LO_DUMP_INPUT_PREFIX "%d%s", sample, ext ? ext : "");
    return n >= 0 && (size_t)n < size;
}

bool lo_dump_is_sample_name(const char *name) {
    static const size_t ls = sizeof LO_DUMP_SAMPLE_PREFIX - 1, li = sizeof LO_DUMP_INPUT_PREFIX - 1;
    const char *p = !strncmp(name, LO_DUMP_SAMPLE_PREFIX, ls)  ? name + ls
                    : !strncmp(name, LO_DUMP_INPUT_PREFIX, li) ? name + li
                                                               : NULL;
    if (!p || !(*p >= '0' && *p <= '9')) return false;
    while (*p >= '0' && *p <= '9') p++;
    return !*p || !strcmp(p, ".raw") || !strcmp(p, ".npy");
}
