/* layerout generate: run a model over input samples and dump every layer. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "Usage: layerout generate MODEL.onnx -o DIR [-i INPUT ...] [--input-list LIST] [options]\n"
    "\n"
    "Runs MODEL on each input sample and saves every graph input and every top-level node\n"
    "output (outputs of Constant nodes excepted) in AIMET's layer-output layout:\n"
    "  DIR/layer_output_name_order.json    {\"layer_output_names\": [...]} in graph order\n"
    "  DIR/inputs/input_K.raw              sample K's input (input_K/I.raw for several inputs)\n"
    "  DIR/outputs/layer_outputs_K/NAME.raw  each tensor, NAME = ONNX name with \\W+ -> _\n"
    "  DIR/manifest.json                   model SHA-256, every tensor's name, node, dtype, shape,\n"
    "                                      and the number of complete samples; written last\n"
    ".raw files hold the tensor's bytes in its own dtype, C order, little-endian, no header.\n"
    "With --format safetensors each sample is one file instead of a file per tensor:\n"
    "  DIR/outputs/layer_outputs_K.safetensors  every tensor, keyed by NAME (no extension);\n"
    "                                      its __metadata__ maps NAME to the ONNX name\n"
    "  DIR/inputs/input_K.safetensors      the inputs, keyed by the model's input names\n"
    "String, complex128 and sub-byte tensors have no safetensors type: saving one fails.\n"
    "\n"
    "Inputs:\n"
    "  -i, --input FILE|NAME=FILE  one file per model input, in the model's input order, or\n"
    "                              matched by input NAME; repeat for several inputs. Files:\n"
    "                              .npy (dtype and shape checked), .pb (ONNX TensorProto; a\n"
    "                              SequenceProto or OptionalProto for a sequence or optional\n"
    "                              input), or raw bytes of the input's declared dtype and shape.\n"
    "                              A model without inputs runs once with no -i\n"
    "      --input-list LIST       Qualcomm input_list.txt: one sample per line, paths in input\n"
    "                              order or NAME:=PATH pairs; '#' comments and blank lines skipped\n"
    "      --shape NAME=DIMS       shape of a raw input with dynamic dims, e.g. input=1x3x224x224\n"
    "Output:\n"
    "  -o, --output DIR            the dump folder (created if missing)\n"
    "      --format raw|npy|safetensors  file format of the saved tensors (default raw)\n"
    "      --layers REGEX          save only tensors whose ONNX name or file name matches REGEX\n"
    "                              (POSIX extended); '^$' saves none: plain inference\n"
    "      --op-types A,B          save only outputs of nodes of these op types\n"
    "      --subgraphs             also save the tensors inside If/Loop/Scan bodies (NAME__iterK\n"
    "                              in loops) and inside model-local functions (CALL/NAME); they\n"
    "                              follow the top-level names in layer_output_name_order.json\n"
    "      --overwrite             replace the dump in a non-empty DIR (other files are kept)\n"
    "      --append                add samples after the last complete one in DIR (same model);\n"
    "                              with --input-list, line K is sample K, so lines already\n"
    "                              complete are skipped: re-running a stopped command resumes it\n"
    "      --shard K/N             with --input-list: write only shard K of N (0 <= K < N): the\n"
    "                              samples of lines L with L % N == K, each as sample L. Shards\n"
    "                              may run at once into one DIR; 'layerout merge DIR' then writes\n"
    "                              the index files. Finish a stopped shard with --shard K/N --append\n"
    "Naming (which file name each tensor gets):\n"
    "      --naming SCHEME         onnx (default): the ONNX name without '_updated', then \\W+ -> _,\n"
    "                              as AIMET's ONNX scheme; qnn: \\W+ -> _ (keeping '_updated'), then\n"
    "                              a leading _ unless it starts with a letter,\n"
    "                              as Qualcomm's converter names tensors; pytorch: one file per call\n"
    "                              of a leaf module, named by the module (layer1.0.conv1 ->\n"
    "                              layer1_0_conv1); torchscript: TorchScript names from --name-map\n"
    "      --name-map FILE         JSON object of ONNX tensor name -> name to use (any scheme)\n"
    "      --all-tensors           pytorch/torchscript: also keep tensors of no module, by ONNX name\n"
    "Quantization simulation:\n"
    "      --encodings FILE        AIMET encodings (0.6.1, 1.0.0 or 2.0.0) to simulate: parameters are\n"
    "                              quantize-dequantized at load, activations as they are produced;\n"
    "                              the saved value of an encoded tensor is the quantized one\n"
    "      --rounding MODE         half-away (default: roundf, as aimet_onnx's kernels) or\n"
    "                              half-even (torch.round, as aimet_torch v2 and QuantizeLinear)\n"
    "      --strict                encodings naming tensors the model lacks are an error, not a warning\n"
    "Running:\n"
    "      --threads N             threads for the kernels (default: the cores\n"
    "                              not kept busy by other processes, see README)\n"
    "      --max-memory SIZE       bound on the engine's tensor memory (e.g. 512M, 4G); a model\n"
    "                              that needs more stops with a message naming the node\n"
    "      --profile               print time per node and per op type, with GFLOP/s of\n"
    "                              Conv, ConvTranspose, Gemm and MatMul, to stderr\n"
    "      --reference-kernels     run every operator's plain reference loops instead of its\n"
    "                              fast path (slower): compare with a default run to check one\n"
    "      --no-fusion             run every node by itself: no fused chains, no Transpose folded\n"
    "                              into MatMul, no reshape reusing its input, no Conv output\n"
    "                              passed on in oneDNN's blocked layout (README, fusion)\n"
    "  -q, --quiet                 print nothing but errors\n"
    "  -h, --help                  show this help\n"
    "\n"
    "Ctrl-C stops after the current sample; completed samples stay valid.\n"
    "Exit status: 0 on success, 2 on any error.\n";

/* Ctrl-C is taken synchronously: SIGINT is blocked in every thread (the
 * writer, OpenMP's and oneDNN's inherit the mask from this one) and looked
 * for between samples. A handler run asynchronously in the middle of the
 * engine's work let the run crash now and then (heap corruption inside
 * oneDNN's sgemm, seen by the hardening test); a pending signal cannot. */
static bool interrupted;
static sigset_t sigint_set;

static void block_sigint(void) {
    sigemptyset(&sigint_set);
    sigaddset(&sigint_set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigint_set, NULL);
}

/* True (and the signal consumed) when Ctrl-C came since the last look. */
static bool take_sigint(void) {
    sigset_t pending;
    if (sigpending(&pending) != 0 || sigismember(&pending, SIGINT) != 1) return false;
    struct timespec zero = {0, 0};
    sigtimedwait(&sigint_set, NULL, &zero);
    return true;
}

typedef struct progress {
    bool enabled;
    int total;
    struct timespec start;
} progress;

static double seconds_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

static void progress_show(const progress *p, int done) {
    if (!p->enabled) return;
    int width = 30, filled = p->total ? done * width / p->total : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '=' : ' ';
    bar[width] = 0;
    double el = seconds_since(&p->start);
    double eta = done ? el / done * (p->total - done) : 0;
    fprintf(stderr, "\r[%s] %d/%d samples  %.1fs elapsed  %.1fs left ", bar, done, p->total, el, eta);
    if (done == p->total) fputc('\n', stderr);
    fflush(stderr);
}

int cli_generate(int argc, char **argv) {
    block_sigint(); /* before the library starts any thread */
    static const struct option longopts[] = {
        {"input", required_argument, 0, 'i'},     {"output", required_argument, 0, 'o'},
        {"input-list", required_argument, 0, 'L'}, {"shape", required_argument, 0, 'S'},
        {"format", required_argument, 0, 'F'},    {"threads", required_argument, 0, 'T'},
        {"overwrite", no_argument, 0, 'W'},       {"append", no_argument, 0, 'A'},
        {"quiet", no_argument, 0, 'q'},           {"help", no_argument, 0, 'h'},
        {"encodings", required_argument, 0, 'E'}, {"rounding", required_argument, 0, 'R'},
        {"strict", no_argument, 0, 'X'},        {"naming", required_argument, 0, 'N'},
        {"name-map", required_argument, 0, 'M'},  {"all-tensors", no_argument, 0, 'Y'},
        {"layers", required_argument, 0, 'G'},    {"op-types", required_argument, 0, 'P'},
        {"profile", no_argument, 0, 'O'},         {"max-memory", required_argument, 0, 'Z'},
        {"shard", required_argument, 0, 'K'},
        {"subgraphs", no_argument, 0, 'B'},
        {"reference-kernels", no_argument, 0, 'k'},
        {"no-fusion", no_argument, 0, 'U'},
        {0, 0, 0, 0},
    };
    const char *out_dir = NULL;
    cli_inputs in = {0};
    bool quiet = false;
    lo_generator_options opt;
    lo_generator_options_init(&opt);
    int c;
    optind = 1;
    opterr = 0; /* our own messages, prefixed like every other */
    while ((c = getopt_long(argc, argv, "i:o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
        case 'L':
        case 'S':
            if (cli_input_option(c, optarg, &in)) return 2;
            break;
        case 'o': out_dir = optarg; break;
        case 'F':
            if (!strcmp(optarg, "raw")) opt.format = LO_FORMAT_RAW;
            else if (!strcmp(optarg, "npy")) opt.format = LO_FORMAT_NPY;
            else if (!strcmp(optarg, "safetensors")) opt.format = LO_FORMAT_SAFETENSORS;
            else return cli_error("--format takes raw, npy or safetensors, got '%s'", optarg);
            break;
        case 'T': {
            char *end;
            long t = strtol(optarg, &end, 10);
            if (*end || t < 1 || t > 1024) return cli_error("--threads takes a number from 1, got '%s'", optarg);
            opt.session.threads = (int)t;
            break;
        }
        case 'W':
            if (opt.mode == LO_DIR_APPEND) return cli_error("--overwrite and --append exclude each other");
            opt.mode = LO_DIR_OVERWRITE;
            break;
        case 'A':
            if (opt.mode == LO_DIR_OVERWRITE) return cli_error("--overwrite and --append exclude each other");
            opt.mode = LO_DIR_APPEND;
            break;
        case 'E': opt.model.encodings = optarg; break;
        case 'R':
            if (cli_parse_rounding(optarg, &opt.model.rounding)) return 2;
            break;
        case 'X': opt.model.strict = 1; break;
        case 'N':
            if (!strcmp(optarg, "onnx")) opt.naming = LO_NAMING_ONNX;
            else if (!strcmp(optarg, "qnn")) opt.naming = LO_NAMING_QNN;
            else if (!strcmp(optarg, "pytorch")) opt.naming = LO_NAMING_PYTORCH;
            else if (!strcmp(optarg, "torchscript")) opt.naming = LO_NAMING_TORCHSCRIPT;
            else return cli_error("--naming takes onnx, qnn, pytorch or torchscript, got '%s'", optarg);
            break;
        case 'M': opt.name_map = optarg; break;
        case 'Y': opt.all_tensors = 1; break;
        case 'B': opt.session.subgraphs = 1; break;
        case 'G': opt.layers = optarg; break;
        case 'P': opt.op_types = optarg; break;
        case 'O': opt.session.profile = 1; break;
        case 'k': opt.session.reference_kernels = 1; break;
        case 'U': opt.session.fusion = 0; break;
        case 'Z': {
            char *end;
            errno = 0;
            double v = strtod(optarg, &end);
            double unit = 1;
            if (*end == 'K' || *end == 'k') unit = 1024.0, end++;
            else if (*end == 'M' || *end == 'm') unit = 1048576.0, end++;
            else if (*end == 'G' || *end == 'g') unit = 1073741824.0, end++;
            if (end == optarg || *end || errno || v <= 0 || v * unit > 1e18)
                return cli_error("--max-memory takes a size such as 512M or 4G, got '%s'", optarg);
            opt.session.max_memory = (size_t)(v * unit);
            break;
        }
        case 'K': {
            char *end = NULL, *slash;
            errno = 0;
            long k = strtol(optarg, &slash, 10), n = -1;
            if (slash != optarg && *slash == '/') n = strtol(slash + 1, &end, 10);
            if (n < 1 || !end || *end || errno || k < 0 || k >= n || n > 1000000)
                return cli_error("--shard takes K/N with 0 <= K < N (shard K of N, from 0), got '%s'", optarg);
            opt.shard_index = (int)k;
            opt.shard_count = (int)n;
            break;
        }
        case 'q': quiet = true; break;
        case 'h': fputs(usage, stdout); return 0;
        default:
            return cli_error("unknown option or missing value: '%s' (see 'layerout generate --help')",
                             argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_error(optind >= argc ? "generate needs a MODEL.onnx (see 'layerout generate --help')"
                                        : "generate takes one MODEL.onnx (see 'layerout generate --help')");
    const char *model_path = argv[optind];
    if (!out_dir) return cli_error("generate needs an output folder: -o DIR");
    if (in.n && in.list) return cli_error("-i and --input-list exclude each other");
    if (opt.shard_count && !in.list) return cli_error("--shard needs --input-list: it splits the list's samples");
    if (opt.shard_count && opt.mode == LO_DIR_OVERWRITE)
        return cli_error("--shard and --overwrite exclude each other: --overwrite would remove the other shards' "
                         "samples");

    lo_input_list *list = NULL;
    lo_error err;
    if (!in.n && !in.list) {
        /* only a model without inputs runs with none (one sample); asked
         * before the dump folder is touched */
        lo_model *probe;
        if (lo_model_load(model_path, &probe, &err) != LO_OK) return cli_fail(&err);
        int n = lo_model_input_count(probe);
        char first[300];
        snprintf(first, sizeof first, "%s", n ? lo_model_input_name(probe, 0) : "");
        lo_model_free(probe);
        if (n)
            return cli_error("no input given: the model takes %d input%s ('%s'%s); use -i FILE (one per model "
                             "input) or --input-list LIST",
                             n, n == 1 ? "" : "s", first, n > 1 ? ", ..." : "");
    }
    if (in.list && lo_input_list_load(in.list, &list, &err) != LO_OK) return cli_fail(&err);
    opt.shard_samples = list ? lo_input_list_samples(list) : 0;

    lo_generator *gen;
    if (lo_generator_create(model_path, out_dir, &opt, &gen, &err) != LO_OK) {
        lo_input_list_free(list);
        return cli_fail(&err);
    }
    const lo_model *m = lo_generator_model(gen);
    if (*lo_model_warnings(m)) fprintf(stderr, "layerout: warning: %s\n", lo_model_warnings(m));
    int n_samples = in.list ? lo_input_list_samples(list) : 1;
    int first = lo_generator_sample_count(gen);
    /* With a list, line K is sample K: --append resumes after the samples
     * already complete, so re-running an interrupted command finishes it. */
    int start = in.list && opt.mode == LO_DIR_APPEND ? first : 0;
    int todo = n_samples - start;
    if (opt.shard_count) {
        start = 0; /* the generator says which of the shard's samples are left */
        int mine = (n_samples - opt.shard_index + opt.shard_count - 1) / opt.shard_count;
        todo = mine - first;
        if (todo == 0 && !quiet)
            printf("layerout: all %d samples of shard %d/%d are already in %s\n", mine, opt.shard_index,
                   opt.shard_count, out_dir);
    } else if (in.list && start >= n_samples && !quiet) {
        printf("layerout: all %d samples of %s are already in %s\n", n_samples, in.list, out_dir);
    }
    if (start > n_samples) start = n_samples;
    progress prog = {in.list && !quiet && isatty(2), todo, {0, 0}};
    clock_gettime(CLOCK_MONOTONIC, &prog.start);

    int rc = 0, done = 0;
    lo_sample *sample = NULL;
    for (int s = start; s < n_samples && rc == 0; s++) {
        if (take_sigint()) {
            interrupted = true;
            break;
        }
        if (opt.shard_count && (s = lo_generator_next_sample(gen)) < 0) break;
        lo_status st = cli_read_sample(m, list, s, &in, &sample, &err);
        if (st == LO_OK) st = lo_generator_generate_sample(gen, sample, &err);
        lo_sample_free(sample);
        sample = NULL;
        if (st != LO_OK) {
            if (prog.enabled) fputc('\n', stderr);
            if (in.list) rc = cli_error("sample %d (entry %d of the input list): %s", s, s + 1, err.message);
            else rc = cli_fail(&err);
            break;
        }
        done++;
        progress_show(&prog, done);
    }
    if (!interrupted && rc == 0 && take_sigint()) interrupted = true;
    int total = lo_generator_sample_count(gen);
    if (interrupted && rc == 0) {
        if (prog.enabled) fputc('\n', stderr);
        if (opt.shard_count)
            fprintf(stderr, "layerout: interrupted; %d sample%s of shard %d/%d complete in %s (resume with "
                    "--shard %d/%d --append)\n", total, total == 1 ? "" : "s", opt.shard_index, opt.shard_count,
                    out_dir, opt.shard_index, opt.shard_count);
        else
            fprintf(stderr, "layerout: interrupted; %d sample%s complete in %s (resume with --append)\n", total,
                    total == 1 ? "" : "s", out_dir);
        rc = 130;
    }
    if (rc == 0 && !quiet && done) {
        if (opt.shard_count)
            printf("layerout: wrote %d sample%s of shard %d/%d (%d of its samples complete) to %s/outputs/; "
                   "'layerout merge %s' when every shard is done\n", done, done == 1 ? "" : "s", opt.shard_index,
                   opt.shard_count, total, out_dir, out_dir);
        else
            printf("layerout: wrote %d sample%s (%d in all) with %d layer outputs each to %s/outputs/\n", done,
                   done == 1 ? "" : "s", total, lo_generator_layer_count(gen), out_dir);
    }
    if (opt.session.profile) {
        char *report = lo_generator_profile(gen);
        if (report) fputs(report, stderr);
        free(report);
    }
    lo_generator_free(gen);
    lo_input_list_free(list);
    return rc;
}
