/* The public face of compare (lo_compare_dumps, layerout.h): what the
 * Python package needs to compare without running the command. */
#include <math.h>
#include <string.h>

#include "compare.h"

void lo_compare_settings_init(lo_compare_settings *s) {
    memset(s, 0, sizeof *s);
    s->struct_size = sizeof *s;
    lo_compare_options o;
    lo_compare_options_init(&o);
    s->sqnr_min = o.sqnr_min;
    s->drop_db = o.drop_db;
    s->top = 20;
}

lo_status lo_compare_dumps(const char *reference, const char *test, const lo_compare_settings *given,
                           const char *json_path, const char *csv_path, const char *html_path, int *failing,
                           lo_error *err) {
    lo_compare_settings s;
    lo_compare_settings_init(&s);
    if (given) LO_TRY(lo_options_take(&s, sizeof s, given, "lo_compare_settings", err));
    if (!reference || !test) return lo_fail(err, LO_ERR_ARGUMENT, "two dump folders are required");
    /* NaN makes every threshold test false: refused, as the command's --sqnr-min and --drop-db refuse it */
    if (isnan(s.sqnr_min)) return lo_fail(err, LO_ERR_ARGUMENT, "sqnr_min must be a number, not NaN");
    if (s.top < 0) return lo_fail(err, LO_ERR_ARGUMENT, "top must not be negative");
    if (isnan(s.drop_db)) return lo_fail(err, LO_ERR_ARGUMENT, "drop_db must be a number, not NaN");
    if (s.drop_db < 0) return lo_fail(err, LO_ERR_ARGUMENT, "drop_db must not be negative");
    lo_compare_options o;
    lo_compare_options_init(&o);
    o.model_path = s.model;
    o.sqnr_min = s.sqnr_min;
    o.drop_db = s.drop_db;
    lo_comparison *c;
    LO_TRY(lo_compare_run(reference, test, &o, &c, err));
    lo_status st = LO_OK;
    if (csv_path) st = lo_report_csv(c, csv_path, err);
    if (st == LO_OK && json_path) st = lo_report_json(c, json_path, err);
    if (st == LO_OK && html_path) st = lo_report_html(c, html_path, err);
    if (st == LO_OK && s.text) lo_report_text(c, s.text, s.top);
    if (st == LO_OK && failing) *failing = c->n_below + c->n_error;
    lo_comparison_free(c);
    return st;
}
