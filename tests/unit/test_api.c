/* The public interface's contracts on examples/tiny_cnn.onnx (Conv, MaxPool,
 * BatchNormalization, Gemm, Softmax: fast paths all): option structs checked
 * by struct_size, lo_session_interrupt, the caller's OpenMP thread count left
 * as it was, and reference_kernels giving the fast path's numbers. */
#include <dirent.h>
#include <omp.h>
#include <stddef.h>
#include <unistd.h>

#include "exec/exec.h"
#include "harness.h"

#ifndef ENCODINGS_061
#define ENCODINGS_061 "tests/fuzz/corpus/encodings/v061"
#endif
#ifndef TINY_CNN
#define TINY_CNN "examples/tiny_cnn.onnx"
#endif

static float pixels[1 * 3 * 32 * 32];
static const int64_t dims[4] = {1, 3, 32, 32};

typedef struct seen {
    int calls, interrupt_at, threads_inside;
    lo_session *session;
    float probs[16];
    int n_probs;
} seen;

static lo_status observe(void *user, const lo_layer_output *o, lo_error *err) {
    seen *s = user;
    s->calls++;
    s->threads_inside = omp_get_max_threads();
    if (s->interrupt_at && s->calls == s->interrupt_at) lo_session_interrupt(s->session);
    if (!strcmp(o->op_type, "Softmax") && o->tensor.dtype == LO_FLOAT) {
        s->n_probs = (int)(o->tensor.nbytes / sizeof(float));
        if (s->n_probs > 16) s->n_probs = 16;
        memcpy(s->probs, o->tensor.data, (size_t)s->n_probs * sizeof(float));
    }
    return LO_OK;
}

static lo_status run(lo_session *session, seen *s, lo_error *err) {
    lo_tensor_view in = {"input", LO_FLOAT, 4, dims, pixels, sizeof pixels};
    s->session = session;
    return lo_session_run(session, &in, 1, observe, s, err);
}

int main(void) {
    for (size_t i = 0; i < sizeof pixels / sizeof pixels[0]; i++) pixels[i] = (float)rnd();
    lo_error err;
    lo_model *model = NULL;
    lo_status st = lo_model_load(TINY_CNN, &model, &err);
    CHECK(st == LO_OK, "load %s: %s", TINY_CNN, err.message);
    if (st != LO_OK) return finish("test_api");

    /* struct_size: 0 is a struct no *_options_init set */
    lo_session_options so;
    memset(&so, 0, sizeof so);
    lo_session *session = NULL;
    st = lo_session_create(model, &so, &session, &err);
    CHECK(st == LO_ERR_ARGUMENT && strstr(err.message, "lo_session_options_init"),
          "an uninitialised options struct: %s (%s)", lo_status_name(st), err.message);
    lo_session_free(session);
    lo_model_options mo;
    memset(&mo, 0, sizeof mo);
    lo_model *m2 = NULL;
    st = lo_model_load_ex(TINY_CNN, &mo, &m2, &err);
    CHECK(st == LO_ERR_ARGUMENT, "an uninitialised model options struct: %s", lo_status_name(st));
    lo_model_free(m2);

    /* an older, smaller struct: the fields it lacks keep their defaults */
    lo_session_options_init(&so);
    so.threads = 1;
    so.reference_kernels = 1; /* beyond the older struct: must be ignored */
    so.struct_size = offsetof(lo_session_options, reference_kernels);
    st = lo_session_create(model, &so, &session, &err);
    CHECK(st == LO_OK, "an older options struct: %s", err.message);

    /* a generator options struct from a build whose session options were
     * smaller (before subgraphs and reference_kernels): what follows the
     * embedded session is read from where that smaller struct ends. An
     * invalid --layers regex is refused only if read from its own place
     * (read by today's layout, that place holds the older op_types, NULL). */
    {
        lo_generator_options go;
        lo_generator_options_init(&go);
        go.layers = "(";
        size_t old_session = offsetof(lo_session_options, subgraphs);
        size_t cut = offsetof(lo_generator_options, session) + old_session;
        size_t after = offsetof(lo_generator_options, naming);
        size_t total = sizeof go - (after - cut);
        _Alignas(lo_generator_options) unsigned char old[sizeof go];
        memcpy(old, &go, cut);
        memcpy(old + cut, (const unsigned char *)&go + after, sizeof go - after);
        memcpy(old, &total, sizeof total);
        memcpy(old + offsetof(lo_generator_options, session), &old_session, sizeof old_session);
        lo_generator *gen = NULL;
        st = lo_generator_create(TINY_CNN, "/nonexistent/layerout-test-api", (const lo_generator_options *)old,
                                 &gen, &err);
        CHECK(st == LO_ERR_ARGUMENT && strstr(err.message, "--layers '('"),
              "an older generator options struct: %s (%s)", lo_status_name(st), err.message);
        lo_generator_free(gen);
        /* an embedded struct_size no init sets */
        go.layers = NULL;
        go.session.struct_size = sizeof go.session + 8;
        st = lo_generator_create(TINY_CNN, "/nonexistent/layerout-test-api", &go, &gen, &err);
        CHECK(st == LO_ERR_ARGUMENT && strstr(err.message, "lo_generator_options"),
              "a bad embedded struct_size: %s (%s)", lo_status_name(st), err.message);
        lo_generator_free(gen);
        /* a format past the enum is refused before any folder is made */
        lo_generator_options_init(&go);
        go.format = (lo_format)(LO_FORMAT_SAFETENSORS + 1);
        gen = NULL;
        st = lo_generator_create(TINY_CNN, "/nonexistent/layerout-test-api", &go, &gen, &err);
        CHECK(st == LO_ERR_ARGUMENT && strstr(err.message, "unknown output format 3") && !gen,
              "an unknown format: %s (%s)", lo_status_name(st), err.message);
        lo_generator_free(gen);
    }

    /* the caller's OpenMP thread count, during observer calls and after */
    omp_set_num_threads(3);
    seen fast = {0};
    st = run(session, &fast, &err);
    CHECK(st == LO_OK, "run: %s", err.message);
    CHECK(omp_get_max_threads() == 3, "after a run the caller has %d threads, not 3", omp_get_max_threads());
    CHECK(fast.threads_inside == 3, "observers see %d threads, not the caller's 3", fast.threads_inside);
    CHECK(fast.n_probs == 10, "the Softmax output has %d values", fast.n_probs);

    /* lo_session_interrupt: the run stops before its next node, the next run is whole */
    seen stopped = {.interrupt_at = 3};
    st = run(session, &stopped, &err);
    CHECK(st == LO_ERR_INTERRUPTED, "an interrupted run returned %s", lo_status_name(st));
    CHECK(stopped.calls == 3, "the interrupted run went on for %d observer calls", stopped.calls);
    seen again = {0};
    st = run(session, &again, &err);
    CHECK(st == LO_OK && again.calls == fast.calls, "the run after an interrupt: %s, %d calls of %d", lo_status_name(st),
          again.calls, fast.calls);
    lo_session_interrupt(session); /* with no run in progress: the next run stops at its start */
    seen first = {0};
    st = run(session, &first, &err);
    CHECK(st == LO_ERR_INTERRUPTED, "a run after an idle interrupt returned %s", lo_status_name(st));
    lo_session_free(session);

    /* fusion: tiny_cnn run without an observer fuses its Conv+Relu chains
     * by default, and with an older struct that lacks the field (its 0 is
     * beyond struct_size: ignored); fusion = 0 and reference_kernels fuse
     * nothing. Read from the profile's count of nodes run inside chains. */
    for (int k = 0; k < 4; k++) {
        lo_session_options_init(&so);
        so.threads = 1;
        so.profile = 1;
        if (k == 1) {
            so.fusion = 0;
            so.struct_size = offsetof(lo_session_options, fusion);
        }
        if (k == 2) so.fusion = 0;
        if (k == 3) so.reference_kernels = 1;
        lo_session *fs = NULL;
        st = lo_session_create(model, &so, &fs, &err);
        lo_tensor_view in = {"input", LO_FLOAT, 4, dims, pixels, sizeof pixels};
        if (st == LO_OK) st = lo_session_run(fs, &in, 1, NULL, NULL, &err);
        CHECK(st == LO_OK, "fusion case %d: %s", k, err.message);
        char *prof = st == LO_OK ? lo_session_profile(fs) : NULL;
        const char *line = prof ? strstr(prof, "fusion per run: ") : NULL;
        int chained = line ? atoi(line + strlen("fusion per run: ")) : -1;
        CHECK(k < 2 ? chained > 0 : chained == 0, "fusion case %d: %d nodes ran inside chains", k, chained);
        free(prof);
        lo_session_free(fs);
    }

    /* reference_kernels: the reference loops agree with the fast paths */
    lo_session_options_init(&so);
    so.threads = 2;
    so.reference_kernels = 1;
    st = lo_session_create(model, &so, &session, &err);
    CHECK(st == LO_OK, "a reference-kernels session: %s", err.message);
    seen ref = {0};
    if (st == LO_OK) st = run(session, &ref, &err);
    CHECK(st == LO_OK && ref.n_probs == fast.n_probs, "reference run: %s", err.message);
    double worst = 0;
    for (int i = 0; i < ref.n_probs; i++) worst = fmax(worst, fabs(ref.probs[i] - fast.probs[i]));
    CHECK(worst < 1e-5, "reference and fast probabilities differ by %g", worst);
    lo_session_free(session);

    /* lo_session_set_threads (a generator's run of many samples tries one
     * thread less): the oneDNN caches are built again for each count, from
     * the weights oneDNN holds once the model's only session released the
     * float ones, and the values stay the same */
    lo_session_options_init(&so);
    so.threads = 2;
    so.profile = 1;
    st = lo_session_create(model, &so, &session, &err);
    CHECK(st == LO_OK, "a 2-thread session: %s", err.message);
    seen at2 = {0}, at1 = {0}, at2_again = {0};
    if (st == LO_OK) st = run(session, &at2, &err);
    if (st == LO_OK) {
        lo_session_set_threads(session, 1);
        CHECK(lo_session_threads(session) == 1, "lo_session_threads gives %d", lo_session_threads(session));
        st = run(session, &at1, &err);
    }
    if (st == LO_OK) {
        lo_session_set_threads(session, 2);
        st = run(session, &at2_again, &err);
    }
    CHECK(st == LO_OK && at2.n_probs == 10 && at1.n_probs == 10 && at2_again.n_probs == 10,
          "runs on 2, 1 and 2 threads: %s", err.message);
    CHECK(!memcmp(at2.probs, at1.probs, sizeof at1.probs) && !memcmp(at2.probs, at2_again.probs, sizeof at1.probs),
          "the probabilities changed with the thread count");
    char *tprof = st == LO_OK ? lo_session_profile(session) : NULL;
    CHECK(tprof && strstr(tprof, "3 runs, threads 2 for runs 1-1, 1 for runs 2-2, 2 from run 3;"),
          "the profile's thread history: %.120s", tprof ? tprof : "(none)");
    free(tprof);
    lo_session_free(session);
    lo_model_free(model);

    /* lo_encodings: the fuzz corpus's 0.6.1 file holds one param and two
     * activation encodings */
    lo_encodings *enc = NULL;
    st = lo_encodings_load(ENCODINGS_061, NULL, &enc, &err);
    CHECK(st == LO_OK, "lo_encodings_load: %s", err.message);
    if (st == LO_OK) {
        int params = 0, acts = 0;
        for (int i = 0; i < lo_encodings_count(enc); i++) {
            lo_encoding_summary e;
            lo_encodings_get(enc, i, &e);
            params += e.kind == LO_ENCODING_PARAM;
            acts += e.kind == LO_ENCODING_ACTIVATION;
        }
        CHECK(!strcmp(lo_encodings_version(enc), "0.6.1") && lo_encodings_count(enc) == 3 && params == 1 &&
                  acts == 2 && lo_encodings_missing(enc) == NULL,
              "0.6.1 file: version %s, %d encodings (%d params, %d activations)", lo_encodings_version(enc),
              lo_encodings_count(enc), params, acts);
    }
    lo_encodings_free(enc);
    st = lo_encodings_load("/nonexistent/x.encodings", NULL, &enc, &err);
    CHECK(st == LO_ERR_IO && enc == NULL, "a missing encodings file: %s", lo_status_name(st));

    /* lo_compare_dumps: a dump of the fast paths against one of the
     * reference loops: the use --reference-kernels is for */
    char dirs[2][64], json[80];
    snprintf(dirs[0], sizeof dirs[0], "/tmp/layerout-test-api-%d-fast", (int)getpid());
    snprintf(dirs[1], sizeof dirs[1], "/tmp/layerout-test-api-%d-ref", (int)getpid());
    snprintf(json, sizeof json, "/tmp/layerout-test-api-%d.json", (int)getpid());
    for (int k = 0; k < 2; k++) {
        lo_generator_options go;
        lo_generator_options_init(&go);
        go.session.reference_kernels = k;
        go.mode = LO_DIR_OVERWRITE;
        lo_generator *gen = NULL;
        st = lo_generator_create(TINY_CNN, dirs[k], &go, &gen, &err);
        lo_tensor_view in = {"input", LO_FLOAT, 4, dims, pixels, sizeof pixels};
        if (st == LO_OK) st = lo_generator_generate(gen, &in, 1, &err);
        CHECK(st == LO_OK, "generate into %s: %s", dirs[k], err.message);
        /* the layer count is the files the sample folder holds */
        char sample_dir[128];
        snprintf(sample_dir, sizeof sample_dir, "%s/outputs/layer_outputs_0", dirs[k]);
        int files = 0;
        DIR *sd = opendir(sample_dir);
        for (struct dirent *e; sd && (e = readdir(sd));) files += e->d_name[0] != '.';
        if (sd) closedir(sd);
        CHECK(gen && files > 0 && lo_generator_layer_count(gen) == files, "layer count %d, %d files",
              gen ? lo_generator_layer_count(gen) : -1, files);
        lo_generator_free(gen);
    }
    lo_compare_settings cs;
    lo_compare_settings_init(&cs);
    CHECK(cs.sqnr_min == 30 && cs.drop_db == 20, "compare defaults %g/%g", cs.sqnr_min, cs.drop_db);
    int failing = -1;
    char cmd[256];
    st = lo_compare_dumps(dirs[0], dirs[1], &cs, json, NULL, NULL, &failing, &err);
    FILE *jf = fopen(json, "r");
    CHECK(st == LO_OK && failing == 0 && jf, "fast against reference dumps: %s, %d failing", err.message, failing);
    if (jf) fclose(jf);
    /* lo_input_list_load, lo_sample_read, lo_generator_generate_sample: the
     * same pixels through a raw file named in an input list give the same
     * dump as the view above (the SQNR of every layer infinite: failing 0) */
    char raw[80], list[80], third[80];
    snprintf(raw, sizeof raw, "/tmp/layerout-test-api-%d.raw", (int)getpid());
    snprintf(list, sizeof list, "/tmp/layerout-test-api-%d.txt", (int)getpid());
    snprintf(third, sizeof third, "/tmp/layerout-test-api-%d-files", (int)getpid());
    FILE *rf = fopen(raw, "wb"), *lf = fopen(list, "w");
    CHECK(rf && lf, "temporary files");
    if (rf) fwrite(pixels, 1, sizeof pixels, rf), fclose(rf);
    if (lf) fprintf(lf, "# one sample\ninput:=%s\n", raw), fclose(lf);
    lo_input_list *il = NULL;
    st = lo_input_list_load(list, &il, &err);
    CHECK(st == LO_OK && lo_input_list_samples(il) == 1, "input list: %s", err.message);
    const char *const *names = NULL, *const *paths = NULL;
    int n_files = il ? lo_input_list_files(il, 0, &names, &paths) : -1;
    CHECK(n_files == 1 && names[0] && !strcmp(names[0], "input") && !strcmp(paths[0], raw), "the list's sample 0");
    CHECK(!il || lo_input_list_files(il, 1, &names, &paths) == -1, "a sample beyond the list");
    lo_sample *sample = NULL;
    lo_generator_options go;
    lo_generator_options_init(&go);
    go.mode = LO_DIR_OVERWRITE;
    lo_generator *gen = NULL;
    st = lo_generator_create(TINY_CNN, third, &go, &gen, &err);
    CHECK(st == LO_OK, "generator into %s: %s", third, err.message);
    const char *two[2] = {raw, raw};
    CHECK(!gen || (lo_sample_read(lo_generator_model(gen), 2, NULL, two, NULL, 0, &sample, &err) == LO_ERR_INPUT &&
                   !sample && strstr(err.message, "takes 1 input")),
          "two files for one input: %s", err.message);
    const char *bad_name = "nope";
    CHECK(!gen || (lo_sample_read(lo_generator_model(gen), 1, &bad_name, two, NULL, 0, &sample, &err) ==
                       LO_ERR_INPUT && !sample),
          "an unknown input name: %s", err.message);
    if (st == LO_OK && n_files == 1)
        st = lo_sample_read(lo_generator_model(gen), n_files, names, paths, NULL, 0, &sample, &err);
    lo_tensor_view v;
    CHECK(st != LO_OK || (lo_sample_view(sample, 0, &v) == 1 && v.nbytes == sizeof pixels &&
                          !memcmp(v.data, pixels, sizeof pixels)), "the sample's view holds the file's bytes");
    if (st == LO_OK) st = lo_generator_generate_sample(gen, sample, &err);
    CHECK(st == LO_OK, "generate a sample read from files: %s", err.message);
    lo_sample_free(sample);
    lo_generator_free(gen);
    lo_input_list_free(il);
    FILE *text = tmpfile();
    cs.text = text;
    failing = -1;
    st = lo_compare_dumps(dirs[0], third, &cs, NULL, NULL, NULL, &failing, &err);
    CHECK(st == LO_OK && failing == 0 && text && ftell(text) > 0, "view and file dumps: %s, %d failing", err.message,
          failing);
    if (text) fclose(text);
    cs.text = NULL;
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s'", raw, list, third);
    if (system(cmd) != 0) printf("could not remove the test's files\n");

    cs.struct_size = 0;
    CHECK(lo_compare_dumps(dirs[0], dirs[1], &cs, NULL, NULL, NULL, NULL, &err) == LO_ERR_ARGUMENT,
          "uninitialised compare settings");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s'", dirs[0], dirs[1], json);
    if (system(cmd) != 0) printf("could not remove the test's dumps\n");
    return finish("test_api");
}
