/* test_audio.c - audio files read back through libsndfile; the WAV stream against a .wav file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <math.h>
#include <unistd.h>

#include <cmocka.h>
#include <sndfile.h>

#include "kt/audio.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/kt-test-audio-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    return 0;
}

/* Number of directory entries other than . and .. (temp files must not linger). */
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

static float *sine(size_t n)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * sinf(2.0f * 3.14159265f * 440.0f * (float)i / 24000.0f);
    return x;
}

static void test_format_from_path(void **state)
{
    (void)state;
    assert_int_equal(kt_audio_format_from_path("a.wav"), KT_AUDIO_WAV);
    assert_int_equal(kt_audio_format_from_path("dir.x/a.WAV"), KT_AUDIO_WAV);
    assert_int_equal(kt_audio_format_from_path("a.flac"), KT_AUDIO_FLAC);
    assert_int_equal(kt_audio_format_from_path("a.ogg"), KT_AUDIO_OGG);
    assert_int_equal(kt_audio_format_from_path("a.mp3"), KT_AUDIO_UNKNOWN);
    assert_int_equal(kt_audio_format_from_path("dir.wav/a"), KT_AUDIO_UNKNOWN);
    assert_int_equal(kt_audio_format_from_path("wav"), KT_AUDIO_UNKNOWN);
}

/* Writes a sine with the given extension and reads it back. */
static void roundtrip(const char *ext, int major, double tol)
{
    char path[512];
    size_t n = 12000;
    float *x = sine(n);
    kt_error e;
    snprintf(path, sizeof path, "%s/out%s", dir, ext);
    assert_int_equal(kt_audio_write(path, x, n, 24000, &e), KT_OK);
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    assert_non_null(sf);
    assert_int_equal(info.samplerate, 24000);
    assert_int_equal(info.channels, 1);
    assert_int_equal(info.format & SF_FORMAT_TYPEMASK, major);
    assert_int_equal(info.frames, (sf_count_t)n);
    float *y = malloc(n * sizeof *y);
    assert_int_equal(sf_readf_float(sf, y, (sf_count_t)n), (sf_count_t)n);
    sf_close(sf);
    double err2 = 0, sig2 = 0;
    for (size_t i = 0; i < n; i++) {
        err2 += (double)(y[i] - x[i]) * (y[i] - x[i]);
        sig2 += (double)x[i] * x[i];
    }
    print_message("%s: relative rms error %.2e\n", ext, sqrt(err2 / sig2));
    assert_true(sqrt(err2 / sig2) < tol);
    free(x);
    free(y);
}

static void test_wav(void **state) { (void)state; roundtrip(".wav", SF_FORMAT_WAV, 1e-4); }
static void test_flac(void **state) { (void)state; roundtrip(".flac", SF_FORMAT_FLAC, 1e-4); }
static void test_ogg(void **state) { (void)state; roundtrip(".ogg", SF_FORMAT_OGG, 0.2); }

static void test_errors(void **state)
{
    (void)state;
    float x[4] = {0};
    kt_error e;
    char path[512];
    int before = count_entries();
    snprintf(path, sizeof path, "%s/out.mp3", dir);
    assert_int_equal(kt_audio_write(path, x, 4, 24000, &e), KT_EINVAL);
    assert_non_null(strstr(e.msg, ".wav"));
    snprintf(path, sizeof path, "%s/missing/out.wav", dir);
    assert_int_equal(kt_audio_write(path, x, 4, 24000, &e), KT_EIO);
    assert_null(strstr(e.msg, dir)); /* messages do not name the path */
    snprintf(path, sizeof path, "%s/out.wav", dir);
    assert_int_equal(kt_audio_write(path, x, 4, 0, &e), KT_EINVAL);
    assert_int_equal(count_entries(), before);
}

static uint32_t le32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* The stream: unknown-size header, then the same 16-bit samples libsndfile writes to a .wav. */
static void test_stream(void **state)
{
    (void)state;
    size_t n = 5000;
    float *x = sine(n);
    x[10] = 1.7f;   /* clipped */
    x[11] = -1.3f;
    x[12] = 1.0f;
    x[13] = -1.0f;
    x[14] = 1e-5f;
    x[15] = -1e-5f;
    kt_error e;
    FILE *fp = tmpfile();
    kt_wav_stream s;
    assert_int_equal(kt_wav_stream_open(&s, fp, 24000, &e), KT_OK);
    assert_int_equal(kt_wav_stream_write(&s, x, 1234, &e), KT_OK);
    assert_int_equal(kt_wav_stream_write(&s, x + 1234, n - 1234, &e), KT_OK);
    assert_int_equal(s.n_written, n);
    long size = ftell(fp);
    assert_int_equal(size, 44 + 2 * (long)n);
    unsigned char *b = malloc((size_t)size);
    rewind(fp);
    assert_int_equal(fread(b, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    assert_memory_equal(b, "RIFF", 4);
    assert_int_equal(le32(b + 4), 0xFFFFFFFFu);
    assert_memory_equal(b + 8, "WAVEfmt ", 8);
    assert_int_equal(le32(b + 24), 24000);
    assert_memory_equal(b + 36, "data", 4);
    assert_int_equal(le32(b + 40), 0xFFFFFFFFu);

    char path[512];
    snprintf(path, sizeof path, "%s/ref.wav", dir);
    assert_int_equal(kt_audio_write(path, x, n, 24000, &e), KT_OK);
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    assert_non_null(sf);
    short *ref = malloc(n * sizeof *ref);
    assert_int_equal(sf_readf_short(sf, ref, (sf_count_t)n), (sf_count_t)n);
    sf_close(sf);
    for (size_t i = 0; i < n; i++) {
        int16_t v = (int16_t)(b[44 + 2 * i] | b[45 + 2 * i] << 8);
        if (v != ref[i])
            fail_msg("sample %zu: stream %d, libsndfile %d (x = %g)", i, v, ref[i], x[i]);
    }
    assert_int_equal(ref[10], 32767);
    assert_int_equal(ref[11], -32768);
    free(ref);
    free(b);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_from_path), cmocka_unit_test(test_wav), cmocka_unit_test(test_flac),
        cmocka_unit_test(test_ogg),              cmocka_unit_test(test_errors), cmocka_unit_test(test_stream),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
