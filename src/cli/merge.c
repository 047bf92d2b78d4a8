/* layerout merge: finish a sharded run's dump (see lo_merge). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "Usage: layerout merge DIR\n"
    "       layerout merge SHARD_DIR... -o DIR\n"
    "\n"
    "Finishes the dump of a sharded run ('layerout generate ... --shard K/N'): checks that\n"
    "every sample of the input list is complete and whole, and writes\n"
    "layer_output_name_order.json and manifest.json as one process running the whole list\n"
    "would have. With -o, the shards' samples are moved from each SHARD_DIR into DIR (a\n"
    "rename on the same file system, a copy otherwise); a merge that stops midway is\n"
    "finished by running it again. Missing samples are listed with the shards to run\n"
    "again with --append. No shard may be running.\n"
    "\n"
    "  -o, --output DIR   the merged dump (created if missing)\n"
    "  -q, --quiet        print nothing but errors\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 on success, 2 on any error.\n";

int cli_merge(int argc, char **argv) {
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'}, {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *out = NULL;
    bool quiet = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'q': quiet = true; break;
        case 'h': fputs(usage, stdout); return 0;
        default:
            return cli_error("unknown option or missing value: '%s' (see 'layerout merge --help')", argv[optind - 1]);
        }
    }
    int n = argc - optind;
    if (n < 1) return cli_error("merge needs a folder of shards (see 'layerout merge --help')");
    if (n > 1 && !out) return cli_error("merging %d folders needs an output folder: -o DIR", n);
    lo_error err;
    lo_merge_result res;
    if (lo_merge((const char *const *)(argv + optind), n, out, &res, &err) != LO_OK) return cli_fail(&err);
    if (!quiet) {
        printf("layerout: merged %d sample%s into %s", res.samples, res.samples == 1 ? "" : "s", out ? out : argv[optind]);
        if (res.moved || res.copied) printf(" (%d moved, %d copied)", res.moved, res.copied);
        printf("\n");
    }
    return 0;
}
