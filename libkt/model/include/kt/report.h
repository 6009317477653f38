/* kt/report.h - what kt-inspect prints: tensor statistics, tensor listings
 * (text and JSON) and the Kokoro structure report.
 *
 * Output goes into a kt_strbuf; nothing is printed by the library. */
#ifndef KT_REPORT_H
#define KT_REPORT_H

#include <stdint.h>

#include "kt/checkpoint.h"
#include "kt/error.h"
#include "kt/strbuf.h"
#include "kt/tensor.h"

typedef struct {
    int64_t count;     /* finite values used */
    int64_t nonfinite; /* NaN and Inf values skipped */
    double min, max, mean;
    double std;        /* population standard deviation (ddof 0) */
    double median;     /* mean of the two middle values for an even count; only when asked */
} kt_stats;

/* Statistics over all finite elements of t, computed in double. want_median
 * sorts a float copy (O(n log n), n floats of memory). An empty tensor gives
 * count 0 and zeros. */
kt_status kt_tensor_stats(const kt_tensor *t, int want_median, kt_stats *out, kt_error *err);

/* Kokoro component of a flat key by the structure report's rule:
 * contains "text_encoder" -> TEXT_ENCODER; "bert_encoder." -> BERT_ENCODER;
 * "bert." -> BERT; "decoder." -> DECODER; "predictor." -> PREDICTOR; else OTHER. */
const char *kt_kokoro_component(const char *flat_name);

typedef struct {
    const char *model_path;  /* weights file, or NULL to skip the model section */
    const char *voices_dir;  /* voice folder, or NULL to skip the voice sections */
    const char *config_path; /* config.json, or NULL to skip the configuration section */
    const char *generated;   /* text of the "Generated:" line; NULL means the current Unix time */
} kt_report_params;

/* Defaults: everything NULL. */
kt_report_params kt_report_default_params(void);

/* Appends the structure report (the form of shared/spec/structure-report.md).
 * On error the message names the file at fault (these are several files). */
kt_status kt_structure_report(const kt_report_params *p, kt_strbuf *out, kt_error *err);

typedef struct {
    const char *filter; /* fnmatch glob on the flat name, or NULL for all */
    int stats;          /* add min/max/mean/std */
    int values;         /* JSON only: add every value */
} kt_listing_params;

/* Defaults: no filter, no stats, no values. */
kt_listing_params kt_listing_default_params(void);

/* Appends a text table: name, dtype, shape, numel, bytes (+ stats), then totals. */
kt_status kt_tensor_listing_text(const kt_checkpoint *c, const kt_listing_params *p, kt_strbuf *out,
                                 kt_error *err);

/* Appends the same content as one JSON object:
 * {"file","format","file_bytes","metadata":{..},"tensors":[{"name","dtype","shape","numel","bytes",
 *  "stats"?:{"min","max","mean","std"},"values"?:[..]}],"count","total_params","total_bytes"}.
 * Values are exact (shortest round-trip), NaN/Inf as "nan"/"inf"/"-inf", bool as true/false. */
kt_status kt_tensor_listing_json(const kt_checkpoint *c, const char *path, const kt_listing_params *p,
                                 kt_strbuf *out, kt_error *err);

/* Python's repr() of a double ("0.1", "100.0", "1e-05", "inf") into buf (at least 32 bytes). */
void kt_format_double_repr(double v, char *buf, size_t n);

/* A count with thousands separators ("81,763,410") into buf (at least 32 bytes). */
void kt_format_thousands(int64_t v, char *buf, size_t n);

#endif
