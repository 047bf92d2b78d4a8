/* layerout extract: a repro pack for one tensor of a dump (see
 * lo_extract in layerout.h). */
#include <stdio.h>

#include "cli.h"

static const char usage[] =
    "Usage: layerout extract MODEL.onnx --dump DIR --tensor NAME [--sample K] [--to NAME2]\n"
    "                        [--encodings FILE] -o PACK\n"
    "\n"
    "Writes PACK, a self-contained repro of one tensor of a dump: the smallest ONNX model\n"
    "that computes NAME from tensors the dump holds (with --to: the subgraph from NAME's\n"
    "producer to NAME2), those tensors of sample K as .raw files with an input_list.txt,\n"
    "the dump's value of the target in expected/, the encodings of just those tensors, and\n"
    "a README.md saying how to run it with 'layerout generate' and with qnn-net-run. The\n"
    "pack's model keeps the tensors' names, so\n"
    "    cd PACK && layerout generate model.onnx --input-list input_list.txt -o out\n"
    "writes the target under the dump's file name, byte for byte the dump's value.\n"
    "\n"
    "Options:\n"
    "      --dump DIR          the dump (layerout generate's or AIMET's layout)\n"
    "      --tensor NAME       the tensor: its ONNX name or its file name in the dump\n"
    "      --to NAME2          end of the subgraph, downstream of NAME\n"
    "      --sample K          the dump's sample (default 0)\n"
    "      --encodings FILE    the encodings the dump was made with (required when it was)\n"
    "  -o, --output PACK       the pack folder (written as PACK.partial, then renamed)\n"
    "      --overwrite         replace PACK if it exists\n"
    "  -q, --quiet             print nothing but errors\n"
    "  -h, --help              show this help\n"
    "\n"
    "Exit status: 0 on success, 2 on any error (unknown tensor, tensor not in the dump,\n"
    "sample out of range, ...); nothing is left behind on error.\n";

int cli_extract(int argc, char **argv) {
    lo_extract_options o;
    lo_extract_options_init(&o);
    int quiet = 0, n_pos;
    const cli_opt opts[] = {
        {"--dump", NULL, CLI_TEXT, &o.dump, 0},
        {"--tensor", NULL, CLI_TEXT, &o.tensor, 0},
        {"--to", NULL, CLI_TEXT, &o.to, 0},
        {"--sample", NULL, CLI_COUNT, &o.sample, 100000000},
        {"--encodings", NULL, CLI_TEXT, &o.encodings, 0},
        {"--output", "-o", CLI_TEXT, &o.output, 0},
        {"--overwrite", NULL, CLI_FLAG, &o.overwrite, 0},
        {"--quiet", "-q", CLI_FLAG, &quiet, 0},
        {0},
    };
    int st = cli_parse(argc, argv, "extract", usage, opts, "one MODEL.onnx", &o.model, 1, &n_pos);
    if (st >= 0) return st;
    if (!o.model || !o.dump || !o.tensor || !o.output) {
        fputs(usage, stderr);
        return cli_error("extract needs MODEL.onnx, --dump, --tensor and -o");
    }
    lo_error err;
    lo_extract_result r;
    if (lo_extract(&o, &r, &err) != LO_OK) return cli_fail(&err);
    if (!quiet)
        printf("wrote %s: %d node%s, %d input%s, %d initializer%s; expected/%s.raw is the dump's value\n"
               "run: cd %s && layerout generate model.onnx --input-list input_list.txt -o out%s\n",
               o.output, r.n_nodes, r.n_nodes == 1 ? "" : "s", r.n_inputs, r.n_inputs == 1 ? "" : "s",
               r.n_initializers, r.n_initializers == 1 ? "" : "s", r.target_file, o.output,
               o.encodings ? " --encodings encodings.json" : "");
    return 0;
}
