/* test_audio_out.c - the audio writer: format names and extensions, rates, the same output
 * whether the samples come in one call or many (resampled or not), streaming onto a descriptor
 * without seeking, clipping of the float encodings, and every error leaving nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>
#include <sndfile.h>

#include "kt/audio_out.h"

static char dir[256];

static void clean_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/kt-test-audio-out-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    clean_dir();
    rmdir(dir);
    return 0;
}

static int count_entries(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    if (d)
        closedir(d);
    return n;
}

/* A 440 Hz tone with a 3 kHz partial, 24 kHz, amplitude up to 0.7. */
static float *tone(size_t n)
{
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / 24000.0;
        x[i] = (float)(0.5 * sin(2 * M_PI * 440 * t) + 0.2 * sin(2 * M_PI * 3000 * t));
    }
    return x;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* Decoded samples of a file libsndfile reads (raw PCM needs its layout given). */
static float *decode(const char *path, kt_audio_out_format f, int rate, size_t *n)
{
    SF_INFO info;
    memset(&info, 0, sizeof info);
    if (f == KT_AOUT_PCM || f == KT_AOUT_PCM_F32) {
        info.samplerate = rate;
        info.channels = 1;
        info.format = SF_FORMAT_RAW | SF_ENDIAN_LITTLE | (f == KT_AOUT_PCM ? SF_FORMAT_PCM_16 : SF_FORMAT_FLOAT);
    }
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    assert_non_null(sf);
    size_t cap = 1 << 16, len = 0;
    float *x = malloc(cap * sizeof *x);
    for (;;) {
        if (len + 4096 > cap) {
            cap *= 2;
            x = realloc(x, cap * sizeof *x);
            assert_non_null(x);
        }
        sf_count_t k = sf_readf_float(sf, x + len, 4096);
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    sf_close(sf);
    *n = len;
    return x;
}

static void write_file(const char *path, kt_audio_out_format f, int rate, const float *x, size_t n, int pieces,
                       size_t *frames)
{
    kt_audio_writer *w = NULL;
    kt_error e;
    kt_status st = kt_audio_writer_open(path, f, 24000, rate, &w, &e);
    if (st)
        fail_msg("%s at %d: %s", kt_audio_out_format_name(f), rate, e.msg);
    uint32_t seed = 12345;
    for (size_t i = 0; i < n;) {
        seed = seed * 1103515245u + 12345u;
        size_t k = pieces ? 1 + (seed >> 8) % 3000 : n; /* 1..3000 samples per call */
        if (k > n - i)
            k = n - i;
        assert_int_equal(kt_audio_writer_write(w, x + i, k, &e), KT_OK);
        if (pieces && (seed & 7) == 0)
            assert_int_equal(kt_audio_writer_write(w, NULL, 0, &e), KT_OK);
        i += k;
    }
    assert_int_equal(kt_audio_writer_close(w, frames, &e), KT_OK);
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(kt_audio_out_format_from_name("wav"), KT_AOUT_WAV);
    assert_int_equal(kt_audio_out_format_from_name("WAV-F32"), KT_AOUT_WAV_F32);
    assert_int_equal(kt_audio_out_format_from_name("flac"), KT_AOUT_FLAC);
    assert_int_equal(kt_audio_out_format_from_name("ogg"), KT_AOUT_VORBIS);
    assert_int_equal(kt_audio_out_format_from_name("vorbis"), KT_AOUT_VORBIS);
    assert_int_equal(kt_audio_out_format_from_name("opus"), KT_AOUT_OPUS);
    assert_int_equal(kt_audio_out_format_from_name("mp3"), KT_AOUT_MP3);
    assert_int_equal(kt_audio_out_format_from_name("pcm"), KT_AOUT_PCM);
    assert_int_equal(kt_audio_out_format_from_name("pcm-f32"), KT_AOUT_PCM_F32);
    assert_int_equal(kt_audio_out_format_from_name("aac"), KT_AOUT_UNKNOWN);
    assert_int_equal(kt_audio_out_format_from_name(""), KT_AOUT_UNKNOWN);
    assert_int_equal(kt_audio_out_format_from_name(NULL), KT_AOUT_UNKNOWN);
    assert_int_equal(kt_audio_out_format_from_path("a.Wav"), KT_AOUT_WAV);
    assert_int_equal(kt_audio_out_format_from_path("d.mp3/a.flac"), KT_AOUT_FLAC);
    assert_int_equal(kt_audio_out_format_from_path("a.oga"), KT_AOUT_VORBIS);
    assert_int_equal(kt_audio_out_format_from_path("a.opus"), KT_AOUT_OPUS);
    assert_int_equal(kt_audio_out_format_from_path("a.mp3"), KT_AOUT_MP3);
    assert_int_equal(kt_audio_out_format_from_path("a.raw"), KT_AOUT_PCM);
    assert_int_equal(kt_audio_out_format_from_path("a.pcm"), KT_AOUT_PCM);
    assert_int_equal(kt_audio_out_format_from_path("a.f32"), KT_AOUT_PCM_F32);
    assert_int_equal(kt_audio_out_format_from_path("d.wav/a"), KT_AOUT_UNKNOWN);
    assert_int_equal(kt_audio_out_format_from_path("mp3"), KT_AOUT_UNKNOWN);
    assert_string_equal(kt_audio_out_format_name(KT_AOUT_PCM_F32), "pcm-f32");
    assert_string_equal(kt_audio_out_format_name(KT_AOUT_VORBIS), "vorbis");
    assert_string_equal(kt_audio_out_format_name(KT_AOUT_UNKNOWN), "unknown");
}

static void test_rates(void **state)
{
    (void)state;
    kt_error e;
    assert_int_equal(kt_audio_out_check_rate(KT_AOUT_WAV, 8000, &e), KT_OK);
    assert_int_equal(kt_audio_out_check_rate(KT_AOUT_FLAC, 44100, &e), KT_OK);
    assert_int_equal(kt_audio_out_check_rate(KT_AOUT_PCM, 11111, &e), KT_OK);
    assert_int_equal(kt_audio_out_check_rate(KT_AOUT_WAV, 7999, &e), KT_EINVAL);
    assert_non_null(strstr(e.msg, "8000..48000"));
    assert_int_equal(kt_audio_out_check_rate(KT_AOUT_WAV, 48001, &e), KT_EINVAL);
    assert_int_equal(kt_audio_out_check_rate(KT_AOUT_OPUS, 44100, &e), KT_EINVAL);
    assert_non_null(strstr(e.msg, "opus takes"));
    assert_null(strchr(e.msg, '\n'));
    assert_int_equal(kt_audio_out_check_rate(KT_AOUT_OPUS, 48000, &e), KT_OK);
    assert_int_equal(kt_audio_out_check_rate(KT_AOUT_MP3, 44100, &e), KT_OK);
    assert_int_equal(kt_audio_out_check_rate(KT_AOUT_MP3, 10000, &e), KT_EINVAL);
    assert_int_equal(kt_audio_out_check_rate(KT_AOUT_UNKNOWN, 24000, &e), KT_EINVAL);
    assert_int_equal(kt_audio_out_check_rate((kt_audio_out_format)99, 24000, &e), KT_EINVAL);
}

/* One call and 1..3000-sample calls give the same file (the Ogg formats: the same decoded
 * samples, as their stream serial number is random), at the model's rate and resampled. */
static void test_chunking_invariant(void **state)
{
    (void)state;
    static const kt_audio_out_format fmts[] = {KT_AOUT_WAV,  KT_AOUT_WAV_F32, KT_AOUT_FLAC, KT_AOUT_VORBIS,
                                               KT_AOUT_OPUS, KT_AOUT_MP3,     KT_AOUT_PCM,  KT_AOUT_PCM_F32};
    static const int rates[] = {24000, 16000, 22050, 48000};
    size_t n = 24000 + 777;
    float *x = tone(n);
    char a[512], b[512];
    for (size_t fi = 0; fi < sizeof fmts / sizeof fmts[0]; fi++) {
        for (size_t ri = 0; ri < sizeof rates / sizeof rates[0]; ri++) {
            kt_audio_out_format f = fmts[fi];
            int rate = rates[ri];
            if (f == KT_AOUT_OPUS && rate == 22050)
                continue;
            size_t fa = 0, fb = 0, na, nb;
            snprintf(a, sizeof a, "%s/one.%s", dir, kt_audio_out_format_name(f));
            snprintf(b, sizeof b, "%s/many.%s", dir, kt_audio_out_format_name(f));
            write_file(a, f, rate, x, n, 0, &fa);
            write_file(b, f, rate, x, n, 1, &fb);
            assert_int_equal(fa, fb);
            double want = (double)n * rate / 24000.0;
            if (fabs((double)fa - want) > 1.0)
                fail_msg("%s at %d Hz: %zu samples, want %.2f", kt_audio_out_format_name(f), rate, fa, want);
            int ogg = f == KT_AOUT_VORBIS || f == KT_AOUT_OPUS;
            unsigned char *ba = ogg ? (unsigned char *)decode(a, f, rate, &na) : slurp(a, &na);
            unsigned char *bb = ogg ? (unsigned char *)decode(b, f, rate, &nb) : slurp(b, &nb);
            if (na != nb || memcmp(ba, bb, ogg ? na * sizeof(float) : na) != 0)
                fail_msg("%s at %d Hz differs between one call and many", kt_audio_out_format_name(f), rate);
            /* no chunk stamped with the time of writing (libsndfile's PEAK chunk in float WAV) */
            for (size_t i = 0; !ogg && i + 4 <= na && i < 256; i++)
                if (!memcmp(ba + i, "PEAK", 4))
                    fail_msg("%s at %d Hz has a PEAK chunk at byte %zu", kt_audio_out_format_name(f), rate, i);
            free(ba);
            free(bb);
        }
    }
    free(x);
    clean_dir();
}

/* Lossless files decode to the samples given (16-bit: within one step); resampled ones keep the tone. */
static void test_lossless_samples(void **state)
{
    (void)state;
    size_t n = 12000, m;
    float *x = tone(n);
    char p[512];
    static const kt_audio_out_format fmts[] = {KT_AOUT_WAV, KT_AOUT_WAV_F32, KT_AOUT_FLAC, KT_AOUT_PCM,
                                               KT_AOUT_PCM_F32};
    for (size_t fi = 0; fi < sizeof fmts / sizeof fmts[0]; fi++) {
        snprintf(p, sizeof p, "%s/l.%s", dir, kt_audio_out_format_name(fmts[fi]));
        write_file(p, fmts[fi], 24000, x, n, 1, NULL);
        float *y = decode(p, fmts[fi], 24000, &m);
        assert_int_equal(m, n);
        double tol = fmts[fi] == KT_AOUT_WAV_F32 || fmts[fi] == KT_AOUT_PCM_F32 ? 0.0 : 1.0 / 32768.0;
        for (size_t i = 0; i < n; i++)
            if (fabs((double)y[i] - (double)x[i]) > tol)
                fail_msg("%s sample %zu: %g, want %g", kt_audio_out_format_name(fmts[fi]), i, y[i], x[i]);
        free(y);
    }
    /* 24 kHz -> 48 kHz: every other output sample is (nearly) the input one */
    snprintf(p, sizeof p, "%s/up.wav-f32", dir);
    write_file(p, KT_AOUT_WAV_F32, 48000, x, n, 1, NULL);
    float *y = decode(p, KT_AOUT_WAV_F32, 48000, &m);
    assert_int_equal(m, 2 * n);
    double worst = 0;
    for (size_t i = 200; i + 200 < n; i++)
        worst = fmax(worst, fabs((double)y[2 * i] - (double)x[i]));
    if (worst > 1e-3)
        fail_msg("24 -> 48 kHz drifts from the input by %g", worst);
    free(y);
    free(x);
    clean_dir();
}

static void test_float_clipping(void **state)
{
    (void)state;
    float x[5] = {2.0f, -3.0f, NAN, 0.25f, INFINITY};
    char p[512];
    size_t m;
    snprintf(p, sizeof p, "%s/c.f32", dir);
    write_file(p, KT_AOUT_PCM_F32, 24000, x, 5, 0, NULL);
    float *y = decode(p, KT_AOUT_PCM_F32, 24000, &m);
    assert_int_equal(m, 5);
    assert_true(y[0] == 1.0f && y[1] == -1.0f && y[2] == 0.0f && y[3] == 0.25f && y[4] == 1.0f);
    free(y);
    clean_dir();
}

/* Streams onto a file descriptor; the wav stream has the "unknown" sizes and the file's samples. */
static void stream_to(const char *path, kt_audio_out_format f, int rate, const float *x, size_t n)
{
    kt_audio_writer *w = NULL;
    kt_error e;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    if (kt_audio_writer_open_fd(fd, f, 24000, rate, &w, &e))
        fail_msg("stream %s: %s", kt_audio_out_format_name(f), e.msg);
    for (size_t i = 0; i < n; i += 1000)
        assert_int_equal(kt_audio_writer_write(w, x + i, n - i < 1000 ? n - i : 1000, &e), KT_OK);
    assert_int_equal(kt_audio_writer_close(w, NULL, &e), KT_OK);
    close(fd);
}

static void test_stream(void **state)
{
    (void)state;
    size_t n = 10000, na, nb;
    float *x = tone(n);
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/s.wav", dir);
    snprintf(b, sizeof b, "%s/f.wav", dir);
    stream_to(a, KT_AOUT_WAV, 22050, x, n);
    write_file(b, KT_AOUT_WAV, 22050, x, n, 0, NULL);
    unsigned char *sa = slurp(a, &na), *sb = slurp(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(sa + 40, "\xff\xff\xff\xff", 4);
    assert_memory_equal(sa + 4, "\xff\xff\xff\xff", 4);
    assert_memory_equal(sa + 44, sb + 44, na - 44); /* libsndfile's header is 44 bytes as well */
    free(sa);
    free(sb);
    /* wav-f32 stream: format tag 3, 32 bits */
    snprintf(a, sizeof a, "%s/s.wavf", dir);
    stream_to(a, KT_AOUT_WAV_F32, 24000, x, n);
    sa = slurp(a, &na);
    assert_int_equal(na, 44 + 4 * n);
    assert_int_equal(sa[20], 3);
    assert_int_equal(sa[34], 32);
    assert_memory_equal(sa + 44, x, 4 * n);
    free(sa);
    /* the others decode to the right length */
    static const kt_audio_out_format fmts[] = {KT_AOUT_PCM, KT_AOUT_PCM_F32, KT_AOUT_OPUS, KT_AOUT_MP3};
    for (size_t fi = 0; fi < sizeof fmts / sizeof fmts[0]; fi++) {
        snprintf(a, sizeof a, "%s/s.%s", dir, kt_audio_out_format_name(fmts[fi]));
        stream_to(a, fmts[fi], 16000, x, n);
        float *y = decode(a, fmts[fi], 16000, &na);
        size_t want = (n * 2 + 1) / 3, slack = fmts[fi] == KT_AOUT_MP3 ? 2304 : fmts[fi] == KT_AOUT_OPUS ? 960 : 0;
        if (fmts[fi] == KT_AOUT_MP3) /* no gapless tag: libsndfile guesses a length; ffmpeg's is checked in check_audio_formats.py */
            want = na > 0 ? na : 1;
        if (na < want || na > want + slack)
            fail_msg("stream %s: %zu samples, want %zu", kt_audio_out_format_name(fmts[fi]), na, want);
        free(y);
    }
    free(x);
    clean_dir();
}

static void test_errors(void **state)
{
    (void)state;
    kt_audio_writer *w = (kt_audio_writer *)1;
    kt_error e;
    char p[512];
    float x[100] = {0};
    clean_dir();
    snprintf(p, sizeof p, "%s/missing/a.wav", dir);
    assert_int_equal(kt_audio_writer_open(p, KT_AOUT_WAV, 24000, 24000, &w, &e), KT_EIO);
    assert_null(w);
    snprintf(p, sizeof p, "%s/a.opus", dir);
    assert_int_equal(kt_audio_writer_open(p, KT_AOUT_OPUS, 24000, 44100, &w, &e), KT_EINVAL);
    assert_int_equal(kt_audio_writer_open(p, KT_AOUT_UNKNOWN, 24000, 24000, &w, &e), KT_EINVAL);
    assert_int_equal(kt_audio_writer_open(p, KT_AOUT_WAV, 0, 24000, &w, &e), KT_EINVAL);
    assert_int_equal(kt_audio_writer_open(p, KT_AOUT_WAV, 24000, 96000, &w, &e), KT_EINVAL);
    assert_int_equal(kt_audio_writer_open_fd(1, KT_AOUT_FLAC, 24000, 24000, &w, &e), KT_EINVAL);
    assert_non_null(strstr(e.msg, "cannot stream flac"));
    assert_int_equal(kt_audio_writer_open_fd(1, KT_AOUT_VORBIS, 24000, 24000, &w, &e), KT_EINVAL);
    assert_int_equal(count_entries(), 0);
    /* abort: no file, no temp */
    snprintf(p, sizeof p, "%s/b.mp3", dir);
    assert_int_equal(kt_audio_writer_open(p, KT_AOUT_MP3, 24000, 44100, &w, &e), KT_OK);
    assert_int_equal(kt_audio_writer_write(w, x, 100, &e), KT_OK);
    assert_int_equal(count_entries(), 1); /* the temp file */
    kt_audio_writer_abort(w);
    kt_audio_writer_abort(NULL);
    assert_int_equal(kt_audio_writer_close(NULL, NULL, &e), KT_OK);
    assert_int_equal(count_entries(), 0);
    /* a closed pipe: a one-line KT_EIO, not a signal */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    close(fds[0]);
    assert_int_equal(kt_audio_writer_open_fd(fds[1], KT_AOUT_PCM, 24000, 24000, &w, &e), KT_OK);
    assert_int_equal(kt_audio_writer_write(w, x, 100, &e), KT_EIO);
    assert_null(strchr(e.msg, '\n'));
    kt_audio_writer_abort(w);
    assert_int_equal(kt_audio_writer_open_fd(fds[1], KT_AOUT_WAV, 24000, 24000, &w, &e), KT_EIO);
    assert_null(w);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_rates),
        cmocka_unit_test(test_chunking_invariant),
        cmocka_unit_test(test_lossless_samples),
        cmocka_unit_test(test_float_clipping),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
