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
    return !*p || !strcmp(p, ".raw") || !strcmp(p, ".npy") || !strcmp(p, LO_DUMP_CONTAINER_EXT);
}

bool lo_dump_sample_path(char *buf, size_t size, int sample, lo_format format) {
    int n = snprintf(buf, size, LO_DUMP_OUTPUTS "/" LO_DUMP_SAMPLE_PREFIX "%d%s", sample,
                     format == LO_FORMAT_SAFETENSORS ? LO_DUMP_CONTAINER_EXT : "");
    return n >= 0 && (size_t)n < size;
}

const char *lo_dump_tensor_ext(lo_format format) {
    return format == LO_FORMAT_NPY ? ".npy" : format == LO_FORMAT_SAFETENSORS ? "" : ".raw";
}

static const char *const format_names[] = {"raw", "npy", "safetensors"};

const char *lo_dump_format_name(lo_format format) {
    return (unsigned)format < 3 ? format_names[format] : "raw";
}

int lo_dump_format_parse(const char *name) {
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, format_names[i])) return i;
    return -1;
}
