/* A program built on the installed library alone: it must compile against
 * layerout.h, link with what pkg-config or find_package says, and run. */
#include <stdio.h>
#include <string.h>

#include <layerout.h>

int main(int argc, char **argv) {
    int bad = 0;
    if (strcmp(lo_version(), LO_VERSION_STRING) != 0) {
        printf("lo_version() is %s, the header says %s\n", lo_version(), LO_VERSION_STRING);
        bad++;
    }
    if (LO_VERSION_NUMBER != LO_VERSION_MAJOR * 10000 + LO_VERSION_MINOR * 100 + LO_VERSION_PATCH) bad++;
    lo_error err;
    lo_model *model = NULL;
    lo_status st = lo_model_load(argc > 1 ? argv[1] : "/nonexistent/model.onnx", &model, &err);
    if (st != LO_ERR_IO || strstr(err.message, "nonexistent") == NULL) {
        printf("loading a missing model: %s (%s)\n", lo_status_name(st), err.message);
        bad++;
    }
    lo_model_free(model);
    lo_session_options so;
    lo_session_options_init(&so);
    if (so.struct_size != sizeof so) bad++;
    /* a generator's options embed the model's and session's, each initialised */
    lo_generator_options go;
    lo_generator_options_init(&go);
    if (go.struct_size != sizeof go || go.session.struct_size != sizeof go.session ||
        go.model.struct_size != sizeof go.model) {
        printf("lo_generator_options_init: struct_size %zu, session %zu, model %zu\n", go.struct_size,
               go.session.struct_size, go.model.struct_size);
        bad++;
    }
    printf("layerout %s: %s\n", lo_version(), bad ? "FAILED" : "ok");
    return bad ? 1 : 0;
}
