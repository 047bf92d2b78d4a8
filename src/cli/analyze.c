/* layerout analyze: the float model and its quantization-simulated twin side
 * by side, with two errors per layer: cumulative (the quantized chain
 * against the float chain) and isolated (the layer run quantized on the
 * float model's inputs, each quantized with its own encoding, against the
 * float layer). The cumulative error says where accuracy is lost; the
 * isolated one says which layer's encodings lose it. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "compare/compare.h"
#include "dump/dump.h"
#include "exec/exec.h"

static const char usage[] =
    "Usage: layerout analyze MODEL.onnx --encodings FILE (-i INPUT ... | --input-list LIST) [options]\n"
    "\n"
    "Runs MODEL as float and as quantized by FILE (AIMET encodings) on each sample and reports,\n"
    "for every layer in graph order, two SQNRs against the float layer:\n"
    "  cumulative  the quantized model's value: error accumulated along the chain\n"
    "  isolated    the layer run quantized on the float model's inputs (each quantized with its\n"
    "              own encoding): the error this layer's own encodings add\n"
    "Layers are ranked by isolated error, so the encodings to fix come first.\n"
    "\n"
    "Options:\n"
    "  -i, --input FILE|NAME=FILE  inputs of one sample, as for generate\n"
    "      --input-list LIST       Qualcomm input_list.txt: one sample per line\n"
    "      --shape NAME=DIMS       shape of a raw input with dynamic dims\n"
    "      --encodings FILE        the AIMET encodings (required)\n"
    "      --rounding MODE         half-away (default) or half-even, as for generate\n"
    "  -o, --output DIR            keep the three dumps: DIR/float, DIR/quant, DIR/isolated\n"
    "                              (default: a temporary folder, removed afterwards)\n"
    "      --overwrite             replace dumps already in DIR\n"
    "      --csv FILE              one row per tensor and sample (cumulative) with the isolated SQNR\n"
    "      --json FILE             both comparisons in full\n"
    "      --html FILE             one self-contained page: both SQNR lines, threshold, first\n"
    "                              divergence, a sortable table\n"
    "      --sqnr-min DB           threshold (default 30)\n"
    "      --top N                 rows of the terminal tables (default 20)\n"
    "      --threads N             kernel threads (default: the cores not kept\n"
    "                              busy by other processes, see README)\n"
    "  -q, --quiet                 print nothing but errors\n"
    "  -h, --help                  show this help\n"
    "\n"
    "Exit status: 0 when every cumulative SQNR is at or above the threshold, 1 when some is\n"
    "below, 2 on error.\n";

typedef struct isolated_ctx {
    lo_session *float_session;
} isolated_ctx;

static lo_status run_isolated(void *user, lo_session *quant, const lo_tensor_view *inputs, int n,
                              lo_observer_fn observer, void *observer_user, lo_error *err) {
    isolated_ctx *c = user;
    return lo_session_run_isolated(c->float_session, quant, inputs, n, NULL, NULL, observer, observer_user, err);
}

/* Ranking: isolated SQNR ascending (NaN last). */
static const lo_comparison *rank_c;
static int by_isolated(const void *a, const void *b) {
    double x = rank_c->isolated[*(const int *)a], y = rank_c->isolated[*(const int *)b];
    if (isnan(x)) return isnan(y) ? 0 : 1;
    if (isnan(y)) return -1;
    return x < y ? -1 : x > y ? 1 : *(const int *)a - *(const int *)b;
}

int cli_analyze(int argc, char **argv) {
    static const struct option longopts[] = {
        {"input", required_argument, 0, 'i'},      {"input-list", required_argument, 0, 'L'},
        {"shape", required_argument, 0, 'S'},      {"encodings", required_argument, 0, 'E'},
        {"rounding", required_argument, 0, 'R'},   {"output", required_argument, 0, 'o'},
        {"overwrite", no_argument, 0, 'W'},        {"csv", required_argument, 0, 'C'},
        {"json", required_argument, 0, 'J'},       {"html", required_argument, 0, 'H'},
        {"sqnr-min", required_argument, 0, 'm'},   {"top", required_argument, 0, 't'},
        {"threads", required_argument, 0, 'T'},    {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0},
    };
    char *in_names[256], *in_paths[256];
    int n_in = 0, n_shapes = 0, top = 20, threads = 0;
    cli_shape shapes[64];
    const char *list_path = NULL, *encodings = NULL, *out_dir = NULL, *csv = NULL, *json = NULL, *html = NULL;
    bool overwrite = false, quiet = false;
    lo_rounding_mode rounding = LO_ROUNDING_HALF_AWAY;
    lo_compare_options copt;
    lo_compare_options_init(&copt);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "i:o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (!cli_add_input(optarg, in_names, in_paths, &n_in)) return cli_error("too many -i inputs");
            break;
        case 'L': list_path = optarg; break;
        case 'S':
            if (n_shapes >= 64 || !cli_parse_shape(optarg, &shapes[n_shapes]))
                return cli_error("--shape takes NAME=DIMS such as input=1x3x224x224, got '%s'", optarg);
            n_shapes++;
            break;
        case 'E': encodings = optarg; break;
        case 'R':
            if (!strcmp(optarg, "half-even")) rounding = LO_ROUNDING_HALF_EVEN;
            else if (!strcmp(optarg, "half-away")) rounding = LO_ROUNDING_HALF_AWAY;
            else return cli_error("--rounding takes half-even or half-away, got '%s'", optarg);
            break;
        case 'o': out_dir = optarg; break;
        case 'W': overwrite = true; break;
        case 'C': csv = optarg; break;
        case 'J': json = optarg; break;
        case 'H': html = optarg; break;
        case 'm': {
            char *end;
            copt.sqnr_min = strtod(optarg, &end);
            if (*end || !isfinite(copt.sqnr_min)) return cli_error("--sqnr-min takes a number of dB, got '%s'", optarg);
            break;
        }
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0) return cli_error("--top takes a count, got '%s'", optarg);
            top = (int)v;
            break;
        }
        case 'T': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 1024) return cli_error("--threads takes a number from 1, got '%s'", optarg);
            threads = (int)v;
            break;
        }
        case 'q': quiet = true; break;
        case 'h': fputs(usage, stdout); return 0;
        default:
            return cli_error("unknown option or missing value: '%s' (see 'layerout analyze --help')", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) return cli_error("analyze takes one MODEL.onnx (see 'layerout analyze --help')");
    if (!encodings) return cli_error("analyze needs --encodings FILE");
    if (!n_in && !list_path) return cli_error("no input given: use -i FILE (one per model input) or --input-list LIST");
    if (n_in && list_path) return cli_error("-i and --input-list exclude each other");
    const char *model_path = argv[optind];

    char tmp[4200] = "";
    char dirs[3][4300];
    if (!out_dir) {
        const char *t = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/layerout-analyze.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmp)) return cli_error("cannot create a temporary folder in %s: %s", t ? t : "/tmp", strerror(errno));
        out_dir = tmp;
    }
    static const char *const kinds[3] = {"float", "quant", "isolated"};
    for (int k = 0; k < 3; k++) snprintf(dirs[k], sizeof dirs[k], "%s/%s", out_dir, kinds[k]);

    lo_error err;
    lo_input_list list = {0};
    lo_generator *gen[3] = {0};
    lo_comparison *cum = NULL, *iso = NULL;
    lo_tensor *tensors = NULL;
    lo_tensor_view *views = NULL;
    int rc = 0;
    if (list_path && lo_input_list_read(list_path, &list, &err) != LO_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    for (int k = 0; k < 3 && rc == 0; k++) {
        lo_generator_options o;
        lo_generator_options_init(&o);
        o.mode = overwrite ? LO_DIR_OVERWRITE : LO_DIR_NEW;
        o.threads = threads;
        if (k > 0) {
            o.model.encodings = encodings;
            o.model.rounding = rounding;
        }
        if (lo_generator_create(model_path, dirs[k], &o, &gen[k], &err) != LO_OK) rc = cli_fail(&err);
    }
    if (rc) goto done;
    if (*lo_model_warnings(lo_generator_model(gen[1])) && !quiet)
        fprintf(stderr, "layerout: warning: %s\n", lo_model_warnings(lo_generator_model(gen[1])));
    const lo_model *m = lo_generator_model(gen[0]);
    int n_inputs = lo_model_input_count(m), n_samples = list_path ? list.n_samples : 1;
    tensors = calloc((size_t)n_inputs + 1, sizeof *tensors);
    views = calloc((size_t)n_inputs + 1, sizeof *views);
    isolated_ctx ictx = {lo_generator_session(gen[0])};
    for (int s = 0; s < n_samples && rc == 0; s++) {
        lo_status st = list_path ? cli_load_sample(m, list.n_files[s], list.names[s], list.paths[s], shapes,
                                                   n_shapes, tensors, &err)
                                 : cli_load_sample(m, n_in, in_names, in_paths, shapes, n_shapes, tensors, &err);
        for (int i = 0; st == LO_OK && i < n_inputs; i++)
            views[i] = (lo_tensor_view){lo_model_input_name(m, i), tensors[i].dtype, tensors[i].rank,
                                        tensors[i].dims, tensors[i].data, tensors[i].nbytes};
        if (st == LO_OK) st = lo_generator_generate(gen[0], views, n_inputs, &err);
        if (st == LO_OK) st = lo_generator_generate(gen[1], views, n_inputs, &err);
        if (st == LO_OK) st = lo_generator_generate_run(gen[2], views, n_inputs, run_isolated, &ictx, &err);
        for (int i = 0; i < n_inputs; i++) lo_tensor_free_data(&tensors[i]);
        if (st != LO_OK) {
            if (list_path) rc = cli_error("sample %d (entry %d of the input list): %s", s, s + 1, err.message);
            else rc = cli_fail(&err);
        }
    }
    for (int k = 0; k < 3; k++) {
        lo_generator_free(gen[k]);
        gen[k] = NULL;
    }
    if (rc) goto done;

    copt.model_path = model_path;
    copt.dumps_temporary = tmp[0] != 0; /* without -o the dumps go: no repro commands to offer */
    if (lo_compare_run(dirs[0], dirs[1], &copt, &cum, &err) != LO_OK ||
        lo_compare_run(dirs[0], dirs[2], &copt, &iso, &err) != LO_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    /* each cumulative row gets its layer's isolated SQNR */
    cum->isolated = malloc(((size_t)cum->n_rows + 1) * sizeof *cum->isolated);
    if (!cum->isolated) {
        rc = cli_error("out of memory");
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
    if (!quiet) {
        lo_report_text(cum, stdout, top);
        rank_c = cum;
        int *order = malloc(((size_t)cum->n_rows + 1) * sizeof *order);
        int n = 0;
        for (int r = 0; order && r < cum->n_rows; r++)
            if (!isnan(cum->isolated[r])) order[n++] = r;
        if (order) qsort(order, (size_t)n, sizeof *order, by_isolated);
        printf("\nlayers ranked by isolated error (the encodings that lose the most first):\n");
        printf("  %4s  %-56s %12s %12s\n", "#", "tensor", "isolated dB", "cumulative dB");
        for (int k = 0; order && k < n && (top <= 0 || k < top); k++) {
            char a[32], b[32];
            const lo_row *row = &cum->rows[order[k]];
            printf("  %4d  %-56.56s %12s %12s\n", order[k], row->name, lo_format_db(cum->isolated[order[k]], a, sizeof a),
                   lo_format_db(row->sqnr, b, sizeof b));
        }
        free(order);
        if (!tmp[0]) printf("\ndumps: %s/{float,quant,isolated}\n", out_dir);
    }
    if (csv && lo_report_csv(cum, csv, &err) != LO_OK) rc = cli_fail(&err);
    if (!rc && json && lo_report_json(cum, json, &err) != LO_OK) rc = cli_fail(&err);
    if (!rc && html && lo_report_html(cum, html, &err) != LO_OK) rc = cli_fail(&err);
    if (!rc) rc = cum->n_below || cum->n_error ? 1 : 0;

done:
    for (int k = 0; k < 3; k++) lo_generator_free(gen[k]);
    lo_comparison_free(cum);
    lo_comparison_free(iso);
    free(tensors);
    free(views);
    lo_input_list_free(&list);
    if (tmp[0]) {
        lo_error ignore;
        lo_remove_tree(tmp, &ignore); /* the temporary folder this command made */
    }
    return rc;
}
