/* The background writer: saves tensors on an I/O thread while the next
 * layers compute. It writes straight from the run loop's own blocks, which
 * it holds until written (lo_block_hold), so nothing is copied; the bytes it
 * holds at once are bounded, and a producer waits when the bound is reached. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../util/util.h"
#include "dump.h"

typedef struct job {
    char file[256];
    lo_tensor_view tensor;
    int64_t dims[LO_MAX_RANK];
    lo_hold *hold;
    lo_st_writer *st; /* the sample's container, or NULL: a file of its own */
    uint64_t at;      /* the tensor's place in st */
} job;

struct lo_writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* the writer thread waits here for a job */
    pthread_cond_t room; /* producers and finish wait here for jobs to end */
    job *ring;
    int cap, head, n;
    size_t bytes, bound;
    int active;  /* jobs being written outside the lock, by any thread */
    int waiting; /* threads waiting on room */
    bool idle;   /* the writer thread waits on work */
    bool quit;
    bool defer;   /* lo_writer_begin's defer: the writer thread waits while the sample runs */
    bool running; /* between lo_writer_begin and lo_writer_finish */
    int dirfd;
    char dirpath[4200];
    lo_format format;
    lo_st_writer *st;
    bool failed;
    lo_error error;
    double writing; /* seconds spent writing files, summed over the threads that did */
};


lo_status lo_write_tensor_at(int dirfd, const char *dirpath, const char *file, lo_format format,
                             const lo_tensor_view *t, lo_error *err) {
    char header[1024];
    size_t hl = 0;
    if (format == LO_FORMAT_NPY) {
        hl = lo_npy_header(t->dtype, t->rank, t->dims, header, sizeof header);
        if (!hl)
            return lo_fail(err, LO_ERR_UNSUPPORTED, "cannot write %s tensor '%s' as .npy (numpy has "
                           "no such type); use --format raw", lo_dtype_name(t->dtype), t->name ? t->name : file);
    }
    int fd = openat(dirfd, file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return lo_fail(err, LO_ERR_IO, "cannot create '%s/%s': %s", dirpath, file, strerror(errno));
    const char *parts[2] = {header, t->data};
    size_t lens[2] = {hl, t->nbytes};
    char *strings = NULL;
    if (t->dtype == LO_STRING) {
        /* strings: each one followed by a NUL */
        size_t n = t->nbytes / sizeof(char *), total = 0;
        const char *const *s = t->data;
        for (size_t i = 0; i < n; i++) total += strlen(s[i] ? s[i] : "") + 1;
        strings = malloc(total + 1);
        if (!strings) {
            close(fd);
            return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        }
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(s[i] ? s[i] : "") + 1;
            memcpy(strings + at, s[i] ? s[i] : "", l);
            at += l;
        }
        parts[1] = strings;
        lens[1] = total;
    }
    /* header and data in one call: one syscall per file, and the header
     * lands in the same page-cache page as the data's start instead of a
     * page of its own that the filesystem first fills with zeros */
    struct iovec iov[2] = {{(void *)parts[0], lens[0]}, {(void *)parts[1], lens[1]}};
    struct iovec *v = hl ? iov : iov + 1;
    int nv = hl ? 2 : 1;
    while (nv && v->iov_len == 0) v++, nv--;
    while (nv) {
        ssize_t n = writev(fd, v, nv);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : ENOSPC;
            close(fd);
            free(strings);
            return lo_fail(err, LO_ERR_IO, "cannot write '%s/%s': %s", dirpath, file, strerror(e));
        }
        size_t done = (size_t)n;
        while (nv && done >= v->iov_len) {
            done -= v->iov_len;
            v++, nv--;
        }
        if (nv) {
            v->iov_base = (char *)v->iov_base + done;
            v->iov_len -= done;
        }
    }
    free(strings);
    if (close(fd) != 0)
        return lo_fail(err, LO_ERR_IO, "cannot write '%s/%s': %s", dirpath, file, strerror(errno));
    return LO_OK;
}

/* Takes the oldest queued job (lock held); the caller writes it outside the
 * lock and hands it to job_done. */
static job take_job(lo_writer *w) {
    job j = w->ring[w->head];
    w->head = (w->head + 1) % w->cap;
    w->n--;
    w->active++;
    return j;
}

static void run_job(lo_writer *w, job *j, bool skip, lo_status *st, lo_error *e) {
    *st = skip    ? LO_OK
          : j->st ? lo_st_write(j->st, j->at, &j->tensor, e)
                  : lo_write_tensor_at(w->dirfd, w->dirpath, j->file, w->format, &j->tensor, e);
    lo_hold_release(j->hold);
}

/* Lock held. Wakes the threads waiting for room or for the end only: a
 * wake-up per tensor that nobody waits for is a futex call and, on two
 * cores, a context switch the kernel threads pay for. */
static void job_done(lo_writer *w, const job *j, lo_status st, const lo_error *e) {
    if (st != LO_OK && !w->failed) {
        w->failed = true;
        w->error = *e;
    }
    w->bytes -= j->tensor.nbytes;
    w->active--;
    if (w->waiting) pthread_cond_broadcast(&w->room);
}

/* Lock held; returns with it held. Writes the oldest queued job on the
 * calling thread: a producer that would otherwise sleep until the writer
 * thread catches up (the bound reached, or the sample's end) writes
 * instead, so both cores write while no kernel runs. */
static void help(lo_writer *w) {
    job j = take_job(w);
    bool skip = w->failed;
    pthread_mutex_unlock(&w->mu);
    lo_status st;
    lo_error e;
    double t0 = lo_seconds_now();
    run_job(w, &j, skip, &st, &e);
    double dt = lo_seconds_now() - t0;
    pthread_mutex_lock(&w->mu);
    w->writing += dt;
    job_done(w, &j, st, &e);
}

/* Lock held. Whether the writer thread leaves the queue alone for now:
 * deferred while the sample runs, until half the bound is queued. */
static bool held_back(const lo_writer *w) { return w->defer && w->running && w->bytes < w->bound / 2; }

static void *writer_main(void *arg) {
    lo_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while ((!w->n || held_back(w)) && !w->quit) {
            w->idle = true;
            pthread_cond_wait(&w->work, &w->mu);
            w->idle = false;
        }
        if (!w->n && w->quit) break;
        help(w);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

lo_status lo_writer_create(size_t bound, lo_writer **out, lo_error *err) {
    *out = NULL;
    lo_writer *w = calloc(1, sizeof *w);
    if (!w) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    w->cap = 4096;
    w->ring = calloc((size_t)w->cap, sizeof *w->ring);
    w->bound = bound;
    w->dirfd = -1;
    if (!w->ring) {
        free(w);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->room, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->work);
        pthread_cond_destroy(&w->room);
        free(w->ring);
        free(w);
        return lo_fail(err, LO_ERR_NOMEM, "cannot start the writer thread");
    }
    *out = w;
    return LO_OK;
}

void lo_writer_begin(lo_writer *w, int dirfd, const char *dirpath, lo_format format, bool defer) {
    pthread_mutex_lock(&w->mu);
    w->dirfd = dirfd;
    snprintf(w->dirpath, sizeof w->dirpath, "%s", dirpath);
    w->format = format;
    w->st = NULL;
    w->failed = false;
    w->running = true;
    w->defer = defer;
    pthread_mutex_unlock(&w->mu);
}

void lo_writer_container(lo_writer *w, lo_st_writer *st) {
    pthread_mutex_lock(&w->mu);
    w->st = st;
    pthread_mutex_unlock(&w->mu);
}

lo_status lo_writer_put(lo_writer *w, const char *file, const lo_layer_output *o, lo_error *err) {
    const lo_tensor_view *t = &o->tensor;
    /* a container gives each tensor its place as it comes, on this thread */
    uint64_t at = 0;
    if (w->st) LO_TRY(lo_st_add(w->st, file, o->name, t, &at, err));
    lo_hold *hold = NULL;
    /* a tensor beyond the bound, or one whose block cannot be held, is
     * written now, on this thread */
    if (o->block && t->nbytes <= w->bound && strlen(file) < sizeof(((job *)0)->file))
        hold = lo_block_hold(o->block);
    pthread_mutex_lock(&w->mu);
    if (w->failed) {
        *err = w->error;
        pthread_mutex_unlock(&w->mu);
        lo_hold_release(hold);
        return err->status;
    }
    if (!hold) {
        pthread_mutex_unlock(&w->mu);
        double t0 = lo_seconds_now();
        lo_status st = w->st ? lo_st_write(w->st, at, t, err)
                             : lo_write_tensor_at(w->dirfd, w->dirpath, file, w->format, t, err);
        double dt = lo_seconds_now() - t0;
        pthread_mutex_lock(&w->mu);
        w->writing += dt;
        pthread_mutex_unlock(&w->mu);
        return st;
    }
    while (w->n == w->cap || w->bytes + t->nbytes > w->bound) {
        if (w->n) {
            help(w);
            continue;
        }
        w->waiting++;
        pthread_cond_wait(&w->room, &w->mu);
        w->waiting--;
    }
    job *j = &w->ring[(w->head + w->n) % w->cap];
    snprintf(j->file, sizeof j->file, "%s", file);
    j->tensor = *t;
    memcpy(j->dims, t->dims, (size_t)t->rank * sizeof(int64_t));
    j->tensor.dims = j->dims;
    j->tensor.name = NULL;
    j->hold = hold;
    j->st = w->st;
    j->at = at;
    w->n++;
    w->bytes += t->nbytes;
    if (w->idle && !held_back(w)) pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    return LO_OK;
}

/* Lock held: until nothing is queued or being written, the caller writing
 * what is queued beside the writer thread. */
static void drain(lo_writer *w) {
    while (w->n || w->active) {
        if (w->n) {
            help(w);
            continue;
        }
        w->waiting++;
        pthread_cond_wait(&w->room, &w->mu);
        w->waiting--;
    }
}

double lo_writer_seconds(lo_writer *w) {
    pthread_mutex_lock(&w->mu);
    double s = w->writing;
    pthread_mutex_unlock(&w->mu);
    return s;
}

lo_status lo_writer_finish(lo_writer *w, lo_error *err) {
    pthread_mutex_lock(&w->mu);
    w->running = false;
    if (w->idle && w->n) pthread_cond_signal(&w->work);
    drain(w);
    lo_status st = LO_OK;
    if (w->failed) {
        *err = w->error;
        st = err->status;
    }
    w->failed = false;
    w->dirfd = -1;
    w->st = NULL;
    pthread_mutex_unlock(&w->mu);
    return st;
}

void lo_writer_free(lo_writer *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->running = false; /* nothing held back: what is queued gets written */
    if (w->idle && w->n) pthread_cond_signal(&w->work);
    while (w->n || w->active) {
        w->waiting++;
        pthread_cond_wait(&w->room, &w->mu);
        w->waiting--;
    }
    w->quit = true;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->room);
    free(w->ring);
    free(w);
}
