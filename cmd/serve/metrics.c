/* metrics.c - counters for GET /metrics in Prometheus' text format (names kt_*). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "serve.h"

static const double rtf_bounds[KTS_RTF_BUCKETS] = {0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};
static const double ttfb_bounds[KTS_RTF_BUCKETS] = {0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5};

void kts_metrics_init(kts_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
}

void kts_metrics_destroy(kts_metrics *m) { pthread_mutex_destroy(&m->lock); }

void kts_metrics_request(kts_metrics *m, int status)
{
    pthread_mutex_lock(&m->lock);
    if (status >= 100 && status < 600)
        m->by_status[status]++;
    pthread_mutex_unlock(&m->lock);
}

static void observe(uint64_t *count, const double *bounds, double v)
{
    for (int i = 0; i < KTS_RTF_BUCKETS; i++)
        if (v <= bounds[i])
            count[i]++;
    count[KTS_RTF_BUCKETS]++;
}

void kts_metrics_synthesis(kts_metrics *m, double audio_seconds, double synth_seconds, double ttfb)
{
    pthread_mutex_lock(&m->lock);
    m->audio_seconds += audio_seconds;
    if (audio_seconds > 0) {
        double rtf = synth_seconds / audio_seconds;
        observe(m->rtf_count, rtf_bounds, rtf);
        m->rtf_sum += rtf;
        m->rtf_n++;
    }
    if (ttfb >= 0) {
        observe(m->ttfb_count, ttfb_bounds, ttfb);
        m->ttfb_sum += ttfb;
        m->ttfb_n++;
    }
    pthread_mutex_unlock(&m->lock);
}

__attribute__((format(printf, 2, 3))) static int putf(kts_bytes *out, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    return n < 0 || n >= (int)sizeof line ? -1 : kts_bytes_append(out, line, (size_t)n);
}

static int histogram(kts_bytes *out, const char *name, const char *help, const uint64_t *count,
                     const double *bounds, double sum, uint64_t n)
{
    int rc = putf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i < KTS_RTF_BUCKETS; i++)
        rc |= putf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)count[i]);
    rc |= putf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)count[KTS_RTF_BUCKETS]);
    rc |= putf(out, "%s_sum %.6f\n%s_count %llu\n", name, sum, name, (unsigned long long)n);
    return rc;
}

int kts_metrics_render(kts_metrics *m, int queue_depth, int busy, int workers, int in_flight, kts_bytes *out)
{
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    rc |= putf(out, "# HELP kt_requests_total HTTP requests answered, by status code.\n"
                    "# TYPE kt_requests_total counter\n");
    for (int s = 100; s < 600; s++)
        if (m->by_status[s])
            rc |= putf(out, "kt_requests_total{status=\"%d\"} %llu\n", s, (unsigned long long)m->by_status[s]);
    rc |= putf(out, "# HELP kt_queue_depth Speech requests waiting for a worker.\n# TYPE kt_queue_depth gauge\n"
                    "kt_queue_depth %d\n", queue_depth);
    rc |= putf(out, "# HELP kt_workers_busy Workers synthesizing now.\n# TYPE kt_workers_busy gauge\n"
                    "kt_workers_busy %d\n", busy);
    rc |= putf(out, "# HELP kt_workers Synthesis workers.\n# TYPE kt_workers gauge\nkt_workers %d\n", workers);
    rc |= putf(out, "# HELP kt_requests_in_flight Requests being answered now.\n"
                    "# TYPE kt_requests_in_flight gauge\nkt_requests_in_flight %d\n", in_flight);
    rc |= putf(out, "# HELP kt_audio_seconds_total Seconds of audio synthesized.\n"
                    "# TYPE kt_audio_seconds_total counter\nkt_audio_seconds_total %.3f\n", m->audio_seconds);
    rc |= histogram(out, "kt_realtime_factor", "Synthesis time over audio duration, per request.", m->rtf_count,
                    rtf_bounds, m->rtf_sum, m->rtf_n);
    rc |= histogram(out, "kt_first_audio_seconds", "From taking a request to its first audio chunk.",
                    m->ttfb_count, ttfb_bounds, m->ttfb_sum, m->ttfb_n);
    pthread_mutex_unlock(&m->lock);
    return rc ? -1 : 0;
}
