/* The dump folder's lock: who may write into a folder at the same time.
 *
 * One file, DIR/.layerout.lock, carries byte-range locks:
 *   byte 0     the folder: a plain writer (generate, --append, --overwrite,
 *              merge) holds it exclusively; the shards of one sharded run
 *              share it, so they exclude plain writers but not each other;
 *   byte 1     a short mutex the shards take to read or create the run's
 *              plan, so the first of several concurrent shards creates it once;
 *   byte 2+K   shard K, held by the process that writes it, so one shard is
 *              never written by two processes.
 *
 * Why fcntl locks and not an O_EXCL lock file: the kernel releases an fcntl
 * lock when its holder dies, even by SIGKILL, so a killed writer never leaves
 * a lock behind and no one has to judge staleness. An O_EXCL file outlives
 * its writer; staleness can be judged only on the writer's own host (is its
 * pid alive?), so a writer killed on another machine of a cluster would leave
 * a folder locked until someone removes the file by hand. fcntl locks are
 * part of the NFS protocol (NFSv4 itself, NFSv3 through lockd), and an NFSv4
 * server drops the locks of a client that died when its lease expires.
 * Open-file-description locks (F_OFD_*) are used where the kernel has them:
 * classic POSIX locks belong to the process, so two generators of one
 * process would not exclude each other, and closing any descriptor of the
 * file would drop both their locks.
 *
 * Within one process, a new plain generator on a folder takes over the
 * lock of an earlier one that is still open (Python's LayerOutputUtil made
 * again on the same folder before the old object is collected): the earlier
 * generator is revoked, and fails if it is asked to write again, rather than
 * the new one being refused by its own process.
 *
 * The holder of byte 0 writes who it is (host, pid, start time, command)
 * into the file, and each shard into .layerout/shard-K.owner, so a writer
 * that is refused can name the other. The file is removed by the last
 * holder; a process that locked a file someone removed meanwhile sees that
 * the path no longer names its file and starts again. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"

#ifdef F_OFD_SETLK
#define LOCK_SET F_OFD_SETLK
#define LOCK_WAIT F_OFD_SETLKW
#define LOCK_GET F_OFD_GETLK
#else
#define LOCK_SET F_SETLK
#define LOCK_WAIT F_SETLKW
#define LOCK_GET F_GETLK
#endif

struct lo_folder_lock {
    int fd;
    bool exclusive;
    bool revoked; /* taken over by a newer generator of this process */
    dev_t dev;    /* the folder, to find an earlier lock of this process */
    ino_t ino;
    lo_folder_lock *next; /* this process's exclusive locks */
    int shard; /* the shard byte held, or -1 */
    char path[4200];
    char dir[4096];
    char who[512];
};

static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER;
static lo_folder_lock *held; /* guarded by held_mu */

static void unregister(lo_folder_lock *l) {
    for (lo_folder_lock **p = &held; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
}

static int byte_lock(int fd, int cmd, short type, off_t start) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = 1;
    int rc;
    do rc = fcntl(fd, cmd, &fl);
    while (rc != 0 && errno == EINTR && cmd == LOCK_WAIT);
    return rc;
}

/* The type of lock another holder has on a byte (F_UNLCK: none). */
static short held_by_other(int fd, short want, off_t start) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = want;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = 1;
    if (fcntl(fd, LOCK_GET, &fl) != 0) return F_UNLCK;
    return fl.l_type;
}

void lo_folder_describe(const char *what, char *buf, size_t size) {
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    time_t now = time(NULL);
    struct tm tm;
    char when[32] = "?";
    if (gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(buf, size, "'layerout %s', pid %ld on host %s, started %s", what, (long)getpid(), host, when);
}

/* Reads a small text file into buf (empty when it cannot be read). */
static void read_small(const char *path, char *buf, size_t size) {
    buf[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *nl = strchr(buf, '\n');
    if (nl) *nl = 0;
}

/* Names the running shards of dir (their owner files whose byte is held). */
static int describe_shards(const lo_folder_lock *l, char *buf, size_t size) {
    buf[0] = 0;
    size_t at = 0;
    char plan[4200];
    snprintf(plan, sizeof plan, "%s/.layerout/plan.json", l->dir);
    int count = lo_plan_shard_count(plan);
    int named = 0;
    for (int k = 0; k < count && at + 64 < size; k++) {
        if (held_by_other(l->fd, F_WRLCK, 2 + k) == F_UNLCK) continue;
        char owner[4300], who[512];
        snprintf(owner, sizeof owner, "%s/.layerout/shard-%d.owner", l->dir, k);
        read_small(owner, who, sizeof who);
        at += (size_t)snprintf(buf + at, size - at, "%sshard %d/%d (%s)", named++ ? "; " : "", k, count,
                               who[0] ? who : "owner unknown");
    }
    if (!named) snprintf(buf, size, "the shards of a sharded run");
    return named;
}

static lo_status refuse(lo_folder_lock *l, short type, lo_error *err) {
    char who[1200];
    if (type == F_RDLCK) {
        describe_shards(l, who, sizeof who);
        return lo_fail(err, LO_ERR_ARGUMENT, "'%s' is being written by %s; wait until they finish "
                       "(then 'layerout merge %s'), or stop them", l->dir, who, l->dir);
    }
    /* A holder that has just created the lock file writes its description a
     * moment after taking the lock: give it that moment before saying unknown. */
    for (int tries = 0; tries < 50; tries++) {
        read_small(l->path, who, sizeof who);
        if (who[0]) break;
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    return lo_fail(err, LO_ERR_ARGUMENT, "'%s' is being written by another layerout (%s); wait until "
                   "it finishes or stop it", l->dir, who[0] ? who : "owner unknown");
}

static void write_holder(const lo_folder_lock *l) {
    char text[600];
    int n = snprintf(text, sizeof text, "%s\n", l->who);
    /* Overwrite, then trim: the file is never empty between the two, and a
     * longer old tail sits after the newline where readers stop. */
    if (pwrite(l->fd, text, (size_t)n, 0) != n || ftruncate(l->fd, n) != 0) {
        /* only a description is lost; the lock itself holds */
    }
}

lo_status lo_folder_lock_take(const char *dir, bool exclusive, bool take_over, const char *what,
                              lo_folder_lock **out, lo_error *err) {
    *out = NULL;
    lo_folder_lock *l = calloc(1, sizeof *l);
    if (!l) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    l->exclusive = exclusive;
    l->shard = -1;
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    snprintf(l->path, sizeof l->path, "%s/.layerout.lock", dir);
    lo_folder_describe(what, l->who, sizeof l->who);
    struct stat ds;
    if (stat(dir, &ds) == 0) {
        l->dev = ds.st_dev;
        l->ino = ds.st_ino;
    }
    if (exclusive && take_over) {
        pthread_mutex_lock(&held_mu);
        lo_folder_lock *old = held;
        while (old && !(old->dev == l->dev && old->ino == l->ino)) old = old->next;
        /* a duplicate shares the open file description, and with it the lock */
        if (old && (l->fd = fcntl(old->fd, F_DUPFD_CLOEXEC, 0)) >= 0) {
            old->revoked = true;
            unregister(old);
            l->next = held;
            held = l;
            pthread_mutex_unlock(&held_mu);
            write_holder(l);
            *out = l;
            return LO_OK;
        }
        pthread_mutex_unlock(&held_mu);
    }
    for (int attempt = 0;; attempt++) {
        l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (l->fd < 0) {
            lo_status st = lo_fail(err, LO_ERR_IO, "cannot open the lock file '%s': %s", l->path, strerror(errno));
            free(l);
            return st;
        }
        short type = exclusive ? F_WRLCK : F_RDLCK;
        if (byte_lock(l->fd, LOCK_SET, type, 0) != 0) {
            lo_status st;
            if (errno == EAGAIN || errno == EACCES) {
                short other = held_by_other(l->fd, type, 0);
                /* the holder may be gone by now, or be the last one removing
                 * the file we opened: then try again with the file the path
                 * names now */
                struct stat a, b;
                bool replaced = fstat(l->fd, &a) != 0 || stat(l->path, &b) != 0 || a.st_dev != b.st_dev ||
                                a.st_ino != b.st_ino;
                /* shards that hold no shard any more are on their way out */
                char who[64];
                bool leaving = other == F_RDLCK && !describe_shards(l, who, sizeof who);
                if ((other == F_UNLCK || replaced || leaving) && attempt < 100) {
                    if (leaving) usleep(10000);
                    close(l->fd);
                    continue;
                }
                st = refuse(l, other, err);
            } else {
                st = lo_fail(err, LO_ERR_IO, "cannot lock '%s': %s (a network file system without "
                             "locking? see README, \"Sharding\")", l->path, strerror(errno));
            }
            close(l->fd);
            free(l);
            return st;
        }
        /* the last holder removes the file: make sure we locked the one the
         * path names now */
        struct stat a, b;
        if (fstat(l->fd, &a) == 0 && stat(l->path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) break;
        close(l->fd);
        if (attempt > 100) {
            free(l);
            return lo_fail(err, LO_ERR_IO, "cannot lock '%s': it keeps being replaced", l->path);
        }
    }
    if (exclusive) {
        write_holder(l);
        pthread_mutex_lock(&held_mu);
        l->next = held;
        held = l;
        pthread_mutex_unlock(&held_mu);
    }
    *out = l;
    return LO_OK;
}

bool lo_folder_lock_revoked(lo_folder_lock *l) {
    pthread_mutex_lock(&held_mu);
    bool r = l->revoked;
    pthread_mutex_unlock(&held_mu);
    return r;
}

lo_status lo_folder_lock_mutex(lo_folder_lock *l, bool on, lo_error *err) {
    if (byte_lock(l->fd, on ? LOCK_WAIT : LOCK_SET, on ? F_WRLCK : F_UNLCK, 1) != 0)
        return lo_fail(err, LO_ERR_IO, "cannot lock '%s': %s", l->path, strerror(errno));
    return LO_OK;
}

lo_status lo_folder_lock_shard(lo_folder_lock *l, int index, int count, lo_error *err) {
    if (byte_lock(l->fd, LOCK_SET, F_WRLCK, 2 + index) != 0) {
        char owner[4300], who[512];
        snprintf(owner, sizeof owner, "%s/.layerout/shard-%d.owner", l->dir, index);
        read_small(owner, who, sizeof who);
        return lo_fail(err, LO_ERR_ARGUMENT, "shard %d/%d of '%s' is already being written by another "
                       "process (%s)", index, count, l->dir, who[0] ? who : "owner unknown");
    }
    l->shard = index;
    char owner[4300], text[600];
    snprintf(owner, sizeof owner, "%s/.layerout/shard-%d.owner", l->dir, index);
    int n = snprintf(text, sizeof text, "%s\n", l->who);
    return lo_write_file_atomic(owner, text, (size_t)n, err);
}

void lo_folder_lock_release(lo_folder_lock *l) {
    if (!l) return;
    pthread_mutex_lock(&held_mu);
    bool revoked = l->revoked;
    unregister(l);
    pthread_mutex_unlock(&held_mu);
    if (revoked) { /* the lock lives on in the generator that took it over */
        close(l->fd);
        free(l);
        return;
    }
    if (l->shard >= 0) {
        char owner[4300];
        snprintf(owner, sizeof owner, "%s/.layerout/shard-%d.owner", l->dir, l->shard);
        unlink(owner);
    }
    /* a shard that finds itself alone (its shared lock upgrades) removes the
     * file as a plain writer does; otherwise the last one will */
    if (l->exclusive || byte_lock(l->fd, LOCK_SET, F_WRLCK, 0) == 0) unlink(l->path);
    close(l->fd);
    free(l);
}
