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
    cli_inputs in = {0};
    int top = 20, threads = 0;
    const char *encodings = NULL, *out_dir = NULL, *csv = NULL, *json = NULL, *html = NULL;
    bool overwrite = false, quiet = false;
    lo_analyze_options opt;
    lo_analyze_options_init(&opt);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "i:o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
        case 'L':
        case 'S':
            if (cli_input_option(c, optarg, &in)) return 2;
            break;
        case 'E': encodings = optarg; break;
        case 'R':
            if (cli_parse_rounding(optarg, &opt.rounding)) return 2;
            break;
        case 'o': out_dir = optarg; break;
        case 'W': overwrite = true; break;
        case 'C': csv = optarg; break;
        case 'J': json = optarg; break;
        case 'H': html = optarg; break;
        case 'm': {
            char *end;
            opt.sqnr_min = strtod(optarg, &end);
            if (*end || !isfinite(opt.sqnr_min)) return cli_error("--sqnr-min takes a number of dB, got '%s'", optarg);
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
    if (!in.n && !in.list) return cli_error("no input given: use -i FILE (one per model input) or --input-list LIST");
    if (in.n && in.list) return cli_error("-i and --input-list exclude each other");
    const char *model_path = argv[optind];

    opt.encodings = encodings;
    opt.threads = threads;
    opt.n_inputs = in.n;
    opt.input_names = (const char *const *)in.names;
    opt.input_paths = (const char *const *)in.paths;
    opt.input_list = in.list;
    opt.shapes = in.shapes;
    opt.n_shapes = in.n_shapes;
    opt.output = out_dir;
    opt.overwrite = overwrite;
    opt.csv = csv;
    opt.json = json;
    opt.html = html;
    opt.text = quiet ? NULL : stdout;
    opt.top = top;
    opt.warnings = quiet ? NULL : stderr;
    lo_error err;
    int failing = 0;
    if (lo_analyze(model_path, &opt, &failing, &err) != LO_OK) return cli_fail(&err);
    return failing ? 1 : 0;
}
