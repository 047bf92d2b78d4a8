/* layerout: the command. One file per subcommand; this one dispatches. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"


static const char usage[] =
    "layerout " LO_VERSION_STRING " - run an ONNX model and save the output of every layer\n"
    "\n"
    "Usage:\n"
    "  layerout generate MODEL.onnx -o DIR [-i INPUT ...] [options]\n"
    "                       run MODEL on each input sample and save every layer's output\n"
    "                       in AIMET's layer-output layout under DIR\n"
    "  layerout encodings FILE [--model MODEL.onnx]\n"
    "                       summarize an AIMET encodings file\n"
    "  layerout compare REF TEST [options]\n"
    "                       compare two dumps layer by layer\n"
    "  layerout analyze MODEL.onnx --encodings FILE -i INPUT ... [options]\n"
    "                       float vs quantized, per layer: cumulative and isolated error\n"
    "  layerout extract MODEL.onnx --dump DIR --tensor NAME -o PACK [options]\n"
    "                       a repro pack: the nodes computing one tensor, its inputs from the dump\n"
    "  layerout merge DIR | SHARD_DIR... -o DIR\n"
    "                       finish the dump of a run sharded with generate --shard K/N\n"
    "  layerout --help      show this help; 'layerout COMMAND --help' shows a command's options\n"
    "  layerout --version   print the version\n"
    "\n"
    "Exit status: 0 on success, 2 on any error (the message says what was wrong).\n";

/* Whether argv is a `generate` that saves every layer (no --layers or
 * --op-types, in any spelling getopt_long accepts). */
static bool saves_every_layer(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "generate") != 0) return false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) break;
        if (strncmp(a, "--", 2) != 0) continue;
        size_t n = strcspn(a, "=");
        if ((n >= 3 && !strncmp(a, "--layers", n) && n <= strlen("--layers")) ||
            (n >= 4 && !strncmp(a, "--op-types", n) && n <= strlen("--op-types")))
            return false;
    }
    return true;
}

/* How long an idle OpenMP thread spins before it sleeps decides how two
 * threads fare, and the right answer depends on the machine's load. With
 * one competing busy process, kernel time of 30 samples on 2 threads
 * (medians of 3): vit_small 42.7 ms at GOMP_SPINCOUNT=20000 against 19.7 at
 * 300, llama 30.8 against 8.8, resnet18 95.1 against 50.0: a barrier waits
 * for a descheduled thread. On a quiet machine the short spin costs a
 * wake-up at every parallel region instead: llama 6.6 ms at 300 against
 * 3.4 at 20000, vit_small 9.5 against 6.5. So when other processes keep a
 * core busy (the default thread count is below our cores) the spin is
 * short, else long. libgomp reads it from the environment when it is
 * initialised, before main (and libc resets the environment after an
 * executable's preinit functions, so setting it there is lost): the command
 * sets it and starts itself again (about 5 ms), unless the user chose a
 * policy.
 *
 * The writer decides it too: while every layer is saved, the writer
 * thread needs the core an idle team member would spin on between parallel
 * regions. 32 samples, every layer saved, tmpfs, quiet machine, 2 threads,
 * wall seconds at 20000 against 300: vit_small 1.0-1.15 against 0.62,
 * efficientnet_b0 2.1 against 1.3, mobilenet_v2 1.35 against 0.76,
 * llama_small 0.42-0.62 against 0.37-0.41, resnet18 1.0-1.2 against 1.0-1.1,
 * fpn_seg640 (8 samples) 3.6 against 3.5-3.6. With --layers or --op-types
 * the saved share is unknown until the model is loaded, and often small: the
 * long spin stays (with nothing saved 300 was up to 2x slower, above). */
static void bound_openmp_spinning(int argc, char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    cpu_set_t mine;
    int cores = sched_getaffinity(0, sizeof mine, &mine) == 0 ? CPU_COUNT(&mine) : 1;
    const char *spin = lo_default_threads() < cores || saves_every_layer(argc, argv) ? "300" : "20000";
    if (setenv("GOMP_SPINCOUNT", spin, 1) != 0) return;
    execv("/proc/self/exe", argv); /* on failure, carry on as we are */
}

int main(int argc, char **argv) {
    bound_openmp_spinning(argc, argv);
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("layerout %s\n", lo_version());
        return 0;
    }
    if (!strcmp(cmd, "generate")) return cli_generate(argc - 1, argv + 1);
    if (!strcmp(cmd, "encodings")) return cli_encodings(argc - 1, argv + 1);
    if (!strcmp(cmd, "compare")) return cli_compare(argc - 1, argv + 1);
    if (!strcmp(cmd, "analyze")) return cli_analyze(argc - 1, argv + 1);
    if (!strcmp(cmd, "extract")) return cli_extract(argc - 1, argv + 1);
    if (!strcmp(cmd, "merge")) return cli_merge(argc - 1, argv + 1);
    fprintf(stderr, "layerout: unknown command '%s' (see 'layerout --help')\n", cmd);
    return 2;
}
