/* lo_analyze (layerout.h): the float model and its quantization-simulated
 * twin side by side, with two errors per layer: cumulative (the quantized
 * chain against the float chain) and isolated (the layer run quantized on
 * the float model's inputs, each quantized with its own encoding, against
 * the float layer). The cumulative error says where accuracy is lost; the
 * isolated one says which layer's encodings lose it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../dump/dump.h"
#include "../exec/exec.h"
#include "compare.h"

void lo_analyze_options_init(lo_analyze_options *o) {
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->rounding = LO_ROUNDING_HALF_AWAY;
    lo_compare_options c;
    lo_compare_options_init(&c);
    o->sqnr_min = c.sqnr_min;
    o->top = 20;
}

typedef struct isolated_ctx {
    lo_session *float_session;
} isolated_ctx;

static lo_status run_isolated(void *user, lo_session *quant, const lo_tensor_view *inputs, int n,
                              lo_observer_fn observer, void *observer_user, lo_error *err) {
    isolated_ctx *c = user;
    return lo_session_run_isolated(c->float_session, quant, inputs, n, NULL, NULL, observer, observer_user, err);
}

/* Ranking: isolated SQNR ascending, ties in graph order (rows without one are left out). */
typedef struct ranked {
    double isolated;
    int row;
} ranked;
static int by_isolated(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    return x->isolated < y->isolated ? -1 : x->isolated > y->isolated ? 1 : x->row - y->row;
}

static void print_tables(const lo_comparison *cum, FILE *out, int top) {
    lo_report_text(cum, out, top);
    ranked *order = malloc(((size_t)cum->n_rows + 1) * sizeof *order);
    int n = 0;
    for (int r = 0; order && r < cum->n_rows; r++)
        if (!isnan(cum->isolated[r])) order[n++] = (ranked){cum->isolated[r], r};
    if (order) qsort(order, (size_t)n, sizeof *order, by_isolated);
    fprintf(out, "\nlayers ranked by isolated error (the encodings that lose the most first):\n");
    fprintf(out, "  %4s  %-56s %12s %12s\n", "#", "tensor", "isolated dB", "cumulative dB");
    for (int k = 0; order && k < n && (top <= 0 || k < top); k++) {
        char a[32], b[32];
        const lo_row *row = &cum->rows[order[k].row];
        fprintf(out, "  %4d  %-56.56s %12s %12s\n", order[k].row, row->name, lo_format_db(order[k].isolated, a, sizeof a),
                lo_format_db(row->sqnr, b, sizeof b));
    }
    free(order);
}

lo_status lo_analyze(const char *model_path, const lo_analyze_options *given, int *failing, lo_error *err) {
    lo_analyze_options opt;
    lo_analyze_options_init(&opt);
    if (given) LO_TRY(lo_options_take(&opt, sizeof opt, given, "lo_analyze_options", err));
    if (!model_path) return lo_fail(err, LO_ERR_ARGUMENT, "analyze needs a model");
    if (!opt.encodings) return lo_fail(err, LO_ERR_ARGUMENT, "analyze needs --encodings FILE");
    if (!opt.n_inputs && !opt.input_list)
        return lo_fail(err, LO_ERR_ARGUMENT, "no input given: use -i FILE (one per model input) or --input-list LIST");
    if (opt.n_inputs && opt.input_list) return lo_fail(err, LO_ERR_ARGUMENT, "-i and --input-list exclude each other");
    if (opt.top < 0) return lo_fail(err, LO_ERR_ARGUMENT, "top must not be negative");
    if (!isfinite(opt.sqnr_min)) return lo_fail(err, LO_ERR_ARGUMENT, "sqnr_min must be a finite number");

    const char *out_dir = opt.output;
    char tmp[4200] = "";
    char dirs[3][4300];
    if (!out_dir) {
        const char *t = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/layerout-analyze.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmp))
            return lo_fail(err, LO_ERR_IO, "cannot create a temporary folder in %s: %s", t ? t : "/tmp",
                           strerror(errno));
        out_dir = tmp;
    }
    static const char *const kinds[3] = {"float", "quant", "isolated"};
    for (int k = 0; k < 3; k++) snprintf(dirs[k], sizeof dirs[k], "%s/%s", out_dir, kinds[k]);

    lo_input_list *list = NULL;
    lo_sample *sample = NULL;
    lo_generator *gen[3] = {0};
    lo_comparison *cum = NULL, *iso = NULL;
    lo_tensor_view *views = NULL;
    lo_status st = LO_OK;
    if (opt.input_list && (st = lo_input_list_load(opt.input_list, &list, err)) != LO_OK) goto done;
    for (int k = 0; k < 3 && st == LO_OK; k++) {
        lo_generator_options o;
        lo_generator_options_init(&o);
        o.mode = opt.overwrite ? LO_DIR_OVERWRITE : LO_DIR_NEW;
        o.session.threads = opt.threads;
        if (k > 0) {
            o.model.encodings = opt.encodings;
            o.model.rounding = opt.rounding;
        }
        st = lo_generator_create(model_path, dirs[k], &o, &gen[k], err);
    }
    if (st != LO_OK) goto done;
    if (*lo_model_warnings(lo_generator_model(gen[1])) && opt.warnings)
        fprintf(opt.warnings, "layerout: warning: %s\n", lo_model_warnings(lo_generator_model(gen[1])));
    const lo_model *m = lo_generator_model(gen[0]);
    int n_inputs = lo_model_input_count(m), n_samples = list ? lo_input_list_samples(list) : 1;
    views = calloc((size_t)n_inputs + 1, sizeof *views);
    if (!views) {
        st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
        goto done;
    }
    isolated_ctx ictx = {lo_generator_session(gen[0])};
    for (int s = 0; s < n_samples && st == LO_OK; s++) {
        if (list) {
            const char *const *names, *const *paths;
            int n = lo_input_list_files(list, s, &names, &paths);
            st = lo_sample_read(m, n, names, paths, opt.shapes, opt.n_shapes, &sample, err);
        } else {
            st = lo_sample_read(m, opt.n_inputs, opt.input_names, opt.input_paths, opt.shapes, opt.n_shapes,
                                &sample, err);
        }
        for (int i = 0; st == LO_OK && i < n_inputs; i++) lo_sample_view(sample, i, &views[i]);
        if (st == LO_OK) st = lo_generator_generate(gen[0], views, n_inputs, err);
        if (st == LO_OK) st = lo_generator_generate(gen[1], views, n_inputs, err);
        if (st == LO_OK) st = lo_generator_generate_run(gen[2], views, n_inputs, run_isolated, &ictx, err);
        lo_sample_free(sample);
        sample = NULL;
        if (st != LO_OK && list && err) {
            char msg[sizeof err->message];
            snprintf(msg, sizeof msg, "%s", err->message);
            lo_fail(err, st, "sample %d (entry %d of the input list): %s", s, s + 1, msg);
        }
    }
    for (int k = 0; k < 3; k++) {
        lo_generator_free(gen[k]);
        gen[k] = NULL;
    }
    if (st != LO_OK) goto done;

    lo_compare_options copt;
    lo_compare_options_init(&copt);
    copt.sqnr_min = opt.sqnr_min;
    copt.model_path = model_path;
    copt.dumps_temporary = tmp[0] != 0; /* without an output folder the dumps go: no repro commands to offer */
    if ((st = lo_compare_run(dirs[0], dirs[1], &copt, &cum, err)) != LO_OK ||
        (st = lo_compare_run(dirs[0], dirs[2], &copt, &iso, err)) != LO_OK)
        goto done;
    /* each cumulative row gets its layer's isolated SQNR */
    cum->isolated = malloc(((size_t)cum->n_rows + 1) * sizeof *cum->isolated);
    if (!cum->isolated) {
        st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int r = 0; r < cum->n_rows; r++) {
        cum->isolated[r] = NAN;
        for (int q = 0; q < iso->n_rows; q++)
            if (!strcmp(iso->rows[q].name, cum->rows[r].name) && iso->rows[q].status <= LO_ROW_BELOW) {
                cum->isolated[r] = iso->rows[q].sqnr;
                break;
            }
    }
    if (opt.text) {
        print_tables(cum, opt.text, opt.top);
        if (!tmp[0]) fprintf(opt.text, "\ndumps: %s/{float,quant,isolated}\n", out_dir);
    }
    if (opt.csv) st = lo_report_csv(cum, opt.csv, err);
    if (st == LO_OK && opt.json) st = lo_report_json(cum, opt.json, err);
    if (st == LO_OK && opt.html) st = lo_report_html(cum, opt.html, err);
    if (st == LO_OK && failing) *failing = cum->n_below + cum->n_error;

done:
    for (int k = 0; k < 3; k++) lo_generator_free(gen[k]);
    lo_sample_free(sample);
    lo_comparison_free(cum);
    lo_comparison_free(iso);
    free(views);
    lo_input_list_free(list);
    if (tmp[0]) {
        lo_error ignore;
        lo_remove_tree(tmp, &ignore); /* the temporary folder this run made */
    }
    return st;
}
