/* Shared by the libFuzzer targets: the library reads most formats from
 * paths, not memory, and its API stays as it is, so each input is written
 * to a file on tmpfs (/dev/shm) first. One folder per process, so targets
 * running side by side never see each other's files. */
#ifndef LO_FUZZ_COMMON_H
#define LO_FUZZ_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir[512];

static inline int fuzz_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

static inline void fuzz_rmdir(const char *dir) { nftw(dir, fuzz_remove_one, 8, FTW_DEPTH | FTW_PHYS); }

static inline void fuzz_cleanup(void) {
    if (fuzz_dir[0]) fuzz_rmdir(fuzz_dir);
}

/* The per-process scratch folder, created on first use. LOFUZZ_TMP moves it
 * (run.sh points it at a folder it removes afterwards). */
static inline const char *fuzz_scratch(const char *target) {
    if (fuzz_dir[0]) return fuzz_dir;
    const char *base = getenv("LOFUZZ_TMP");
    if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/lofuzz-%s-%d", base, target, (int)getpid());
    if (mkdir(fuzz_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "fuzz: cannot create %s: %s\n", fuzz_dir, strerror(errno));
        abort(); /* a broken harness must not look like a clean run */
    }
    atexit(fuzz_cleanup);
    return fuzz_dir;
}

/* Writes bytes to dir/name; aborts on failure for the same reason. */
static inline void fuzz_write(const char *path, const uint8_t *data, size_t size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "fuzz: cannot create %s: %s\n", path, strerror(errno));
        abort();
    }
    while (size) {
        ssize_t w = write(fd, data, size);
        if (w <= 0) {
            fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
            abort();
        }
        data += w;
        size -= (size_t)w;
    }
    close(fd);
}

/* Where the n-th part of a multi-part input starts: parts are separated by
 * the line "----" so a seed stays readable text when its parts are. */
static inline size_t fuzz_split(const uint8_t *data, size_t size, const uint8_t **parts, size_t *lens,
                         size_t max_parts) {
    static const char sep[] = "\n----\n";
    size_t n = 0, start = 0;
    for (size_t i = 0; i + sizeof sep - 1 <= size && n + 1 < max_parts; i++)
        if (memcmp(data + i, sep, sizeof sep - 1) == 0) {
            parts[n] = data + start;
            lens[n++] = i - start;
            start = i + sizeof sep - 1;
            i = start - 1;
        }
    parts[n] = data + start;
    lens[n++] = size - start;
    return n;
}

#endif
