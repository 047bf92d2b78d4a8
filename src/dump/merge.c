/* layerout merge: the index of a sharded run's dump.
 *
 * The shards leave samples and, in LO_SHARD_STATE, the run's plan and one
 * record per sample. A merge checks that every sample of the run is there
 * and whole (each file of the record, at its size), replays the records in
 * sample order to build the name-order file and the manifest exactly as one
 * process writing samples 0, 1, ... would have, and writes them. Shards in
 * separate folders are first moved into the output folder, a sample at a
 * time, record first and outputs folder last, so a merge stopped midway is
 * finished by running it again: every sample is then complete in exactly
 * one of the folders. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dump.h"

typedef struct source {
    const char *dir;
    lo_folder_lock *lock;
    json_t *plan;
    bool is_out; /* the output folder itself */
} source;

static bool exists_at(const char *dir, const char *rel) {
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    struct stat st;
    return lstat(p, &st) == 0;
}

static lo_status mkdir_p(const char *path, lo_error *err) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return lo_fail(err, LO_ERR_IO, "path too long: '%s'", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return lo_fail(err, LO_ERR_IO, "cannot create folder '%s': %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    return LO_OK;
}

static bool same_folder(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static bool sample_complete(const char *dir, int L, lo_format format) {
    char rel[128];
    if (!lo_dump_sample_path(rel, sizeof rel, L, format) || !exists_at(dir, rel)) return false;
    snprintf(rel, sizeof rel, LO_SHARD_STATE "/samples/%d.json", L);
    return exists_at(dir, rel);
}

/* Copies a file or a folder tree (for folders on different file systems). */
static lo_status copy_tree(const char *from, const char *to, lo_error *err) {
    struct stat st;
    if (lstat(from, &st) != 0) return lo_fail(err, LO_ERR_IO, "cannot read '%s': %s", from, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        if (mkdir(to, 0755) != 0 && errno != EEXIST)
            return lo_fail(err, LO_ERR_IO, "cannot create folder '%s': %s", to, strerror(errno));
        DIR *d = opendir(from);
        if (!d) return lo_fail(err, LO_ERR_IO, "cannot open '%s': %s", from, strerror(errno));
        struct dirent *e;
        lo_status s = LO_OK;
        while (s == LO_OK && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char a[4400], b[4400];
            snprintf(a, sizeof a, "%s/%s", from, e->d_name);
            snprintf(b, sizeof b, "%s/%s", to, e->d_name);
            s = copy_tree(a, b, err);
        }
        closedir(d);
        return s;
    }
    uint8_t *data;
    size_t len;
    LO_TRY(lo_read_file(from, &data, &len, err));
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(data);
        return lo_fail(err, LO_ERR_IO, "cannot create '%s': %s", to, strerror(errno));
    }
    size_t at = 0;
    while (at < len) {
        ssize_t w = write(fd, data + at, len - at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            close(fd);
            free(data);
            return lo_fail(err, LO_ERR_IO, "cannot write '%s': %s", to, strerror(e));
        }
        at += (size_t)w;
    }
    free(data);
    if (close(fd) != 0) return lo_fail(err, LO_ERR_IO, "cannot write '%s': %s", to, strerror(errno));
    return LO_OK;
}

/* Moves from -> to (a file or folder): a rename, or on another file system
 * a copy into a hidden partial name, renamed into place, then the source
 * removed. *copied tells which. */
static lo_status move(const char *from, const char *to, bool *copied, lo_error *err) {
    LO_TRY(lo_remove_tree(to, err)); /* a leftover of an unfinished earlier sample */
    if (rename(from, to) == 0) return LO_OK;
    if (errno != EXDEV) return lo_fail(err, LO_ERR_IO, "cannot rename '%s' to '%s': %s", from, to, strerror(errno));
    *copied = true;
    char tmp[4400];
    const char *slash = strrchr(to, '/');
    snprintf(tmp, sizeof tmp, "%.*s/.%s.partial", (int)(slash - to), to, slash + 1);
    LO_TRY(lo_remove_tree(tmp, err));
    LO_TRY(copy_tree(from, tmp, err));
    if (rename(tmp, to) != 0) return lo_fail(err, LO_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, to, strerror(errno));
    return lo_remove_tree(from, err);
}

static lo_status read_plan(source *s, lo_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/" LO_SHARD_STATE "/plan.json", s->dir);
    json_error_t je;
    s->plan = json_load_file(path, 0, &je);
    if (!s->plan) {
        if (exists_at(s->dir, LO_DUMP_MANIFEST))
            return lo_fail(err, LO_ERR_ARGUMENT, "'%s' holds a finished dump, not shards to merge", s->dir);
        return lo_fail(err, LO_ERR_ARGUMENT, "'%s' holds no shards of a sharded run (no " LO_SHARD_STATE
                       "/plan.json): write it with 'layerout generate ... --shard K/N'", s->dir);
    }
    json_t *head = json_object_get(s->plan, "manifest");
    if (json_integer_value(json_object_get(s->plan, "shards")) < 1 ||
        json_integer_value(json_object_get(s->plan, "samples")) < 1 || !json_is_object(head) ||
        !json_string_value(json_object_get(s->plan, "sha256")) ||
        !json_string_value(json_object_get(s->plan, "options")) ||
        !json_string_value(json_object_get(head, "format")))
        return lo_fail(err, LO_ERR_IO, "'%s' is not a layerout plan", path);
    return LO_OK;
}

static lo_status same_plan(const source *a, const source *b, lo_error *err) {
    const char *keys[] = {"sha256", "shards", "samples", "options"};
    const char *what[] = {"another model (SHA-256)", "another number of shards", "another number of samples",
                          "other options"};
    for (int i = 0; i < 4; i++)
        if (!json_equal(json_object_get(a->plan, keys[i]), json_object_get(b->plan, keys[i])))
            return lo_fail(err, LO_ERR_ARGUMENT, "'%s' and '%s' hold shards of different runs: %s", a->dir, b->dir,
                           what[i]);
    json_t *ha = json_object_get(a->plan, "manifest"), *hb = json_object_get(b->plan, "manifest");
    if (!json_equal(json_object_get(ha, "format"), json_object_get(hb, "format")) ||
        !json_equal(json_object_get(ha, "naming"), json_object_get(hb, "naming")))
        return lo_fail(err, LO_ERR_ARGUMENT, "'%s' and '%s' hold shards of different runs: format or naming",
                       a->dir, b->dir);
    return LO_OK;
}

/* The manifest being rebuilt: entries in first-seen order, found by name. */
typedef struct replay {
    json_t *tensors; /* manifest entries */
    json_t *by_name; /* name -> index */
    json_t *stems;   /* stem -> true */
    json_t *order;   /* stems, in order */
    size_t ext_len;
    lo_format format;
} replay;

/* One sample's record, in the order its run saw the tensors, as a single
 * process's on_tensor would have met them. */
static lo_status replay_sample(replay *r, const char *dir, int L, json_t *rec, lo_error *err) {
    json_t *tensors = json_object_get(rec, "tensors");
    json_t *inputs = json_object_get(rec, "inputs");
    if (!json_is_array(tensors) || !json_is_array(inputs))
        return lo_fail(err, LO_ERR_IO, "'%s': the record of sample %d is malformed", dir, L);
    const char *input_path = json_string_value(json_object_get(rec, "input_path"));
    if (input_path && !exists_at(dir, input_path))
        return lo_fail(err, LO_ERR_IO, "sample %d in '%s' is damaged: its input '%s' is missing; remove "
                       LO_DUMP_OUTPUTS "/" LO_DUMP_SAMPLE_PREFIX "%d and rerun its shard with --append", L, dir, input_path, L);
    size_t i;
    json_t *e;
    json_array_foreach(inputs, i, e) {
        const char *file = json_string_value(json_object_get(e, "file"));
        char p[4400];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, file ? file : "?");
        if (!file || stat(p, &st) != 0 || st.st_size != json_integer_value(json_object_get(e, "bytes")))
            return lo_fail(err, LO_ERR_IO, "sample %d in '%s' is damaged: its input '%s' is missing or has "
                           "another size; remove " LO_DUMP_OUTPUTS "/" LO_DUMP_SAMPLE_PREFIX "%d and rerun its shard with --append",
                           L, dir, file ? file : "?", L);
    }
    json_array_foreach(tensors, i, e) {
        const char *file = json_string_value(json_object_get(e, "file"));
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *base = json_string_value(json_object_get(e, "base"));
        if (!file || !name || !base || strlen(file) <= r->ext_len)
            return lo_fail(err, LO_ERR_IO, "'%s': the record of sample %d is malformed", dir, L);
        char p[4400], rel[128];
        struct stat st;
        /* a container's size stands for each of its tensors (see write_record) */
        lo_dump_sample_path(rel, sizeof rel, L, r->format);
        if (r->format == LO_FORMAT_SAFETENSORS) snprintf(p, sizeof p, "%s/%s", dir, rel);
        else snprintf(p, sizeof p, "%s/%s/%s", dir, rel, file);
        if (stat(p, &st) != 0 || st.st_size != json_integer_value(json_object_get(e, "bytes")))
            return lo_fail(err, LO_ERR_IO, "sample %d in '%s' is damaged: '%s' is missing or has another "
                           "size; remove " LO_DUMP_OUTPUTS "/" LO_DUMP_SAMPLE_PREFIX "%d and rerun its shard with --append", L, dir,
                           file, L);
        json_t *at = json_object_get(r->by_name, name);
        if (at) {
            json_t *m = json_array_get(r->tensors, (size_t)json_integer_value(at));
            json_object_set(m, "dtype", json_object_get(e, "dtype"));
            json_object_set(m, "shape", json_object_get(e, "shape"));
            json_t *enc = json_object_get(e, "encoding");
            if (json_is_string(enc)) json_object_set(m, "encoding", enc);
            continue;
        }
        /* the stem one process would give: the scheme's, with a suffix when
         * an earlier tensor has it */
        size_t stem_len = strlen(file) - r->ext_len;
        char want[600];
        snprintf(want, sizeof want, "%s", base);
        for (int k = 2; json_object_get(r->stems, want); k++) snprintf(want, sizeof want, "%s__%d", base, k);
        if (strlen(want) != stem_len || strncmp(want, file, stem_len) != 0)
            return lo_fail(err, LO_ERR_UNSUPPORTED, "sample %d: tensor '%s' was saved as '%s', one process would "
                           "name it '%s' (names that clash met in another order): run this list as one "
                           "process", L, name, file, want);
        json_t *m = json_deep_copy(e);
        json_object_del(m, "base");
        json_object_del(m, "bytes");
        json_object_set_new(r->by_name, name, json_integer((json_int_t)json_array_size(r->tensors)));
        json_object_set_new(r->stems, want, json_true());
        json_array_append_new(r->order, json_string(want));
        json_array_append_new(r->tensors, m);
    }
    return LO_OK;
}

static lo_status load_record(const char *dir, int L, json_t **rec, lo_error *err) {
    char path[4400];
    snprintf(path, sizeof path, "%s/" LO_SHARD_STATE "/samples/%d.json", dir, L);
    json_error_t je;
    *rec = json_load_file(path, 0, &je);
    if (!*rec) return lo_fail(err, LO_ERR_IO, "cannot read the record of sample %d '%s': %s", L, path, je.text);
    return LO_OK;
}

/* Moves sample L from src to out: record, inputs, then the outputs folder
 * (the sample's commit), then the source's record goes. */
static lo_status move_sample(const char *src, const char *out, int L, json_t *rec, lo_format format, bool *copied,
                             lo_error *err) {
    char from[4400], to[4400];
    snprintf(from, sizeof from, "%s/" LO_SHARD_STATE "/samples/%d.json", src, L);
    snprintf(to, sizeof to, "%s/" LO_SHARD_STATE "/samples/%d.json", out, L);
    /* a hard link: both folders hold the record until the outputs have
     * moved, and it costs no write (a written copy, synced, cost 13 ms a
     * sample on ext4); a copy where links are not to be had */
    unlink(to);
    if (link(from, to) != 0) {
        char *text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!text) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        lo_status st = lo_write_file_atomic(to, text, strlen(text), err);
        free(text);
        if (st != LO_OK) return st;
    }
    /* the sample's input file (one input) or folder (several), if any */
    const char *input_path = json_string_value(json_object_get(rec, "input_path"));
    if (input_path) {
        char rel[160];
        lo_dump_input_path(rel, sizeof rel, L, NULL);
        if (strncmp(input_path, rel, strlen(rel)) != 0 || strchr(input_path + strlen(rel), '/'))
            return lo_fail(err, LO_ERR_IO, "'%s': the record of sample %d is malformed", src, L);
        snprintf(from, sizeof from, "%s/%s", src, input_path);
        snprintf(to, sizeof to, "%s/%s", out, input_path);
        LO_TRY(move(from, to, copied, err));
    }
    char rel[128];
    lo_dump_sample_path(rel, sizeof rel, L, format);
    snprintf(from, sizeof from, "%s/%s", src, rel);
    snprintf(to, sizeof to, "%s/%s", out, rel);
    LO_TRY(move(from, to, copied, err));
    snprintf(from, sizeof from, "%s/" LO_SHARD_STATE "/samples/%d.json", src, L);
    unlink(from);
    return LO_OK;
}

/* Lists missing samples and the shards that must run again. */
static lo_status report_missing(const int *owner, int total, int shards, const char *out, lo_error *err) {
    int missing = 0;
    char list[400] = "";
    size_t at = 0;
    int *per_shard = calloc((size_t)shards, sizeof *per_shard);
    if (!per_shard) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (int L = 0; L < total; L++) {
        if (owner[L] >= 0) continue;
        if (at + 40 < sizeof list)
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%d", missing ? ", " : "", L);
        else if (list[at - 1] != '.')
            at += (size_t)snprintf(list + at, sizeof list - at, ", ...");
        missing++;
        per_shard[L % shards]++;
    }
    char rerun[400] = "";
    size_t rat = 0;
    int n_rerun = 0;
    for (int k = 0; k < shards && rat + 40 < sizeof rerun; k++)
        if (per_shard[k])
            rat += (size_t)snprintf(rerun + rat, sizeof rerun - rat, "%s%d/%d (%d missing)", n_rerun++ ? ", " : "",
                                    k, shards, per_shard[k]);
    free(per_shard);
    return lo_fail(err, LO_ERR_INPUT, "%d of %d samples are not complete in %s: %s; run shard%s %s again with "
                   "--append (layerout generate MODEL --input-list LIST -o DIR --shard K/N --append), then merge",
                   missing, total, out, list, n_rerun == 1 ? "" : "s", rerun);
}

lo_status lo_merge(const char *const *dirs, int n_dirs, const char *out_dir, lo_merge_result *result,
                   lo_error *err) {
    lo_merge_result res = {0, 0, 0};
    if (result) *result = res;
    if (!dirs || n_dirs < 1) return lo_fail(err, LO_ERR_ARGUMENT, "merge needs at least one folder of shards");
    if (!out_dir && n_dirs != 1)
        return lo_fail(err, LO_ERR_ARGUMENT, "merging %d folders needs an output folder (-o DIR)", n_dirs);
    const char *out = out_dir ? out_dir : dirs[0];
    for (int i = 0; i < n_dirs; i++) {
        struct stat st;
        if (stat(dirs[i], &st) != 0 || !S_ISDIR(st.st_mode))
            return lo_fail(err, LO_ERR_ARGUMENT, "'%s' is not a folder", dirs[i]);
    }
    struct stat out_st;
    bool made_out = stat(out, &out_st) != 0;
    LO_TRY(mkdir_p(out, err));
    source *src = calloc((size_t)n_dirs + 1, sizeof *src);
    int *owner = NULL;
    json_t *rec = NULL;
    replay r = {json_array(), json_object(), json_object(), json_array(), 0, LO_FORMAT_RAW};
    if (!src) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    int n_src = 0;
    lo_status st = LO_OK;
    /* the output folder first: when it already holds samples of the run (a
     * merge stopped midway), it is one of the sources */
    src[n_src++] = (source){out, NULL, NULL, true};
    for (int i = 0; i < n_dirs; i++) {
        bool dup = false;
        for (int j = 0; j < n_src && !dup; j++) dup = same_folder(dirs[i], src[j].dir);
        if (!dup) src[n_src++] = (source){dirs[i], NULL, NULL, false};
    }
    for (int i = 0; i < n_src && st == LO_OK; i++) st = lo_folder_lock_take(src[i].dir, true, false, "merge", &src[i].lock, err);
    for (int i = 0; i < n_src && st == LO_OK; i++) {
        if (src[i].is_out && n_src > 1 && !exists_at(out, LO_SHARD_STATE "/plan.json")) {
            /* a fresh output folder: empty apart from the lock */
            if (exists_at(out, LO_DUMP_MANIFEST) || exists_at(out, LO_DUMP_OUTPUTS) || exists_at(out, LO_DUMP_INPUTS))
                st = lo_fail(err, LO_ERR_ARGUMENT, "output folder '%s' is not empty", out);
            continue;
        }
        st = read_plan(&src[i], err);
    }
    const source *ref = NULL;
    for (int i = 0; i < n_src && st == LO_OK; i++) {
        if (!src[i].plan) continue;
        if (ref) st = same_plan(ref, &src[i], err);
        else ref = &src[i];
    }
    int total = 0, shards = 0;
    const char *ext = ".raw";
    if (st == LO_OK) {
        total = (int)json_integer_value(json_object_get(ref->plan, "samples"));
        shards = (int)json_integer_value(json_object_get(ref->plan, "shards"));
        json_t *head = json_object_get(ref->plan, "manifest");
        int f = lo_dump_format_parse(json_string_value(json_object_get(head, "format")));
        if (f < 0) st = lo_fail(err, LO_ERR_UNSUPPORTED, "'%s' holds shards in a format this layerout does not know (%s)",
                                ref->dir, json_string_value(json_object_get(head, "format")));
        r.format = f < 0 ? LO_FORMAT_RAW : (lo_format)f;
        ext = lo_dump_tensor_ext(r.format);
        r.ext_len = strlen(ext);
        owner = malloc((size_t)total * sizeof *owner);
        if (!owner) st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }
    for (int L = 0; L < total && st == LO_OK; L++) {
        owner[L] = -1;
        for (int i = 0; i < n_src && st == LO_OK; i++) {
            if (!src[i].plan || !sample_complete(src[i].dir, L, r.format)) continue;
            if (owner[L] >= 0)
                st = lo_fail(err, LO_ERR_ARGUMENT, "sample %d is in both '%s' and '%s': the folders hold "
                             "overlapping shards", L, src[owner[L]].dir, src[i].dir);
            owner[L] = i;
        }
    }
    if (st == LO_OK) {
        bool complete = true;
        for (int L = 0; L < total; L++) complete = complete && owner[L] >= 0;
        if (!complete) st = report_missing(owner, total, shards, out, err);
    }
    /* every record checked and replayed before anything moves */
    for (int L = 0; L < total && st == LO_OK; L++) {
        st = load_record(src[owner[L]].dir, L, &rec, err);
        if (st == LO_OK) st = replay_sample(&r, src[owner[L]].dir, L, rec, err);
        json_decref(rec);
        rec = NULL;
    }
    if (st == LO_OK && !src[0].plan) {
        /* the output folder gets the plan first, so a stopped merge finds it again */
        char *text = json_dumps(ref->plan, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        char p[4200];
        snprintf(p, sizeof p, "%s/" LO_SHARD_STATE "/samples", out);
        st = text ? mkdir_p(p, err) : lo_fail(err, LO_ERR_NOMEM, "out of memory");
        snprintf(p, sizeof p, "%s/" LO_SHARD_STATE "/plan.json", out);
        if (st == LO_OK) st = lo_write_file_atomic(p, text, strlen(text), err);
        free(text);
    }
    if (st == LO_OK && n_src > 1) {
        char p[4200];
        snprintf(p, sizeof p, "%s/outputs", out);
        st = mkdir_p(p, err);
        snprintf(p, sizeof p, "%s/inputs", out);
        if (st == LO_OK) st = mkdir_p(p, err);
    }
    for (int L = 0; L < total && st == LO_OK; L++) {
        if (src[owner[L]].is_out) continue;
        bool copied = false;
        st = load_record(src[owner[L]].dir, L, &rec, err);
        if (st == LO_OK) st = move_sample(src[owner[L]].dir, out, L, rec, r.format, &copied, err);
        json_decref(rec);
        rec = NULL;
        if (copied) res.copied++;
        else res.moved++;
    }
    if (st == LO_OK) {
        /* as one process writes them: body tensors (--subgraphs) after every top-level one */
        json_t *names = json_array(), *entries = json_array();
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < json_array_size(r.tensors); i++) {
                json_t *e = json_array_get(r.tensors, i);
                if (json_is_true(json_object_get(e, "nested")) != (pass == 1)) continue;
                json_array_append(names, json_array_get(r.order, i));
                json_array_append(entries, e);
            }
        json_t *order = json_object();
        json_object_set_new(order, "layer_output_names", names);
        json_t *m = json_deep_copy(json_object_get(ref->plan, "manifest"));
        json_object_set_new(m, "tensors", entries);
        json_object_set_new(m, "samples", json_integer(total));
        st = lo_dump_write_index(out, order, m, err);
    }
    if (st == LO_OK) {
        /* the dump is complete; the shards' state and emptied folders go */
        for (int i = 0; i < n_src && st == LO_OK; i++) {
            char p[4200];
            snprintf(p, sizeof p, "%s/" LO_SHARD_STATE, src[i].dir);
            st = lo_remove_tree(p, err);
            if (!src[i].is_out) {
                snprintf(p, sizeof p, "%s/outputs", src[i].dir);
                rmdir(p);
                snprintf(p, sizeof p, "%s/inputs", src[i].dir);
                rmdir(p);
            }
        }
        res.samples = total;
    }
    for (int i = 0; i < n_src; i++) {
        lo_folder_lock_release(src[i].lock);
        json_decref(src[i].plan);
    }
    json_decref(r.tensors);
    json_decref(r.by_name);
    json_decref(r.stems);
    json_decref(r.order);
    free(owner);
    free(src);
    if (st != LO_OK && made_out) rmdir(out); /* only if the merge left it empty */
    if (result) *result = res;
    return st;
}
