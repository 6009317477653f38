/* stft.c - the harmonic source (SineGen + SourceModuleHnNSF with a seeded
 * counter-based noise: hash of (index, seed), Box-Muller), torch.stft and torch.istft for the
 * generator's n_fft / hop. */
#include <math.h>
#include <string.h>

#include "kokoro_impl.h"
#include "kt/kokoro_stages.h"

#define SINE_AMP 0.1
#define NOISE_STD 0.003f
#define VOICED_THRESHOLD 10.0f
#define MAX_NFFT 64

int kt_kokoro_samples_per_frame(const kt_model *m) { return 2 * m->up_total; }

int kt_kokoro_stft_frames(const kt_model *m, int F) { return F * kt_kokoro_samples_per_frame(m) / m->hop + 1; }

void kt_stage_noise(uint32_t seed, size_t n, float *z) { kt_normals(KT_ISA_GENERIC, 0, n, seed, z); }

/* rad = (f0 * (k+1) / sr) mod 1 in float32, floor-mod as torch's %. */
static float rad_of(float f0, int k)
{
    float r = (f0 * (float)(k + 1)) / (float)KT_SOURCE_SR;
    return r - floorf(r);
}

size_t kt_source_need(const kt_model *m, int F)
{
    (void)m;
    (void)F;
    return 0;
}

/* P[j] of the reference recipe: float32(cumsum in double) * 2 * float32(pi) * up. */
static float phase_p(double cum, int up)
{
    float p = (float)cum;
    p = p * 2.0f;
    p = p * (float)M_PI;
    return p * (float)up;
}

/* Work below which the source, STFT and iSTFT loops stay on the caller's thread. */
#define PAR_MIN 4096

typedef struct {
    const kt_model *m;
    const float *f0, *x, *spec, *phase;
    int F, n, M;
    uint32_t seed;
    float *out;
} src_job;

#define SRC_BLOCK 64 /* samples whose noise numbers are made at once */

/* Samples [ts, te) of the source. The phase state (cum, p0, p1) is advanced from t = 0 in
 * the same order whatever ts is, so every sample gets the serial loop's value. */
static void source_part(void *ctx, size_t ts, size_t te)
{
    const src_job *jb = ctx;
    const kt_model *m = jb->m;
    const float *f0 = jb->f0;
    float *har_source = jb->out;
    uint32_t seed = jb->seed;
    int L2 = 2 * jb->F, up = m->up_total;
    double cum[KT_HARMONICS]; /* cumsum of rad over j = 0..i0 */
    float p0[KT_HARMONICS], p1[KT_HARMONICS];
    const float *lw = m->gen.l_linear.w, *lb = m->gen.l_linear.b;
    long i0 = 0;
    for (int k = 0; k < KT_HARMONICS; k++)
        cum[k] = rad_of(f0[0], k);
    for (int k = 0; k < KT_HARMONICS; k++) {
        p0[k] = phase_p(cum[k], up);
        p1[k] = L2 > 1 ? phase_p(cum[k] + rad_of(f0[1], k), up) : p0[k];
    }
    double sc = (double)(float)(1.0 / up); /* torch's upsample_linear1d source scale */
    float z[SRC_BLOCK * KT_HARMONICS];
    int isa = kt_exec_isa(m->ex);
    for (size_t t = 0; t < te; t++) {
        double sd = sc * ((double)t + 0.5) - 0.5;
        if (sd < 0)
            sd = 0;
        long j = (long)floor(sd);
        while (i0 < j) { /* advance to i0 = j; P[i1] with i1 = min(i0 + 1, L2 - 1) */
            i0++;
            for (int k = 0; k < KT_HARMONICS; k++) {
                cum[k] += rad_of(f0[i0], k);
                p0[k] = phase_p(cum[k], up);
                p1[k] = i0 + 1 < L2 ? phase_p(cum[k] + rad_of(f0[i0 + 1], k), up) : p0[k];
            }
        }
        if (t < ts)
            continue;
        size_t zi = (t - ts) % SRC_BLOCK;
        if (!zi)
            kt_normals(isa, (uint64_t)t * KT_HARMONICS, (te - t < SRC_BLOCK ? te - t : SRC_BLOCK) * KT_HARMONICS, seed,
                       z);
        float lam = (float)(sd - (double)i0), w0 = 1.0f - lam;
        float fu = f0[t / up];
        int voiced = fu > VOICED_THRESHOLD;
        float amp = voiced ? NOISE_STD : (float)(SINE_AMP / 3.0);
        float acc = 0.0f;
        for (int k = 0; k < KT_HARMONICS; k++) {
            float ph = fmaf(w0, p0[k], lam * p1[k]); /* one fused multiply-add, as torch */
            float sine = (float)SINE_AMP * sinf(ph);
            float sw = (voiced ? sine : 0.0f) + amp * z[zi * KT_HARMONICS + k];
            acc += lw[k] * sw;
        }
        har_source[t] = tanhf(acc + lb[0]);
    }
}

void kt_source_run(const kt_model *m, const float *f0, int F, uint32_t seed, float *har_source)
{
    src_job jb = {m, f0, NULL, NULL, NULL, F, 0, 0, seed, har_source};
    kt_exec_range(m->ex, (size_t)2 * F * m->up_total, 1, PAR_MIN, source_part, &jb);
}

static void hann(int N, float *w)
{
    for (int i = 0; i < N; i++)
        w[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * i / N));
}

static long reflect(long p, long n)
{
    if (p < 0)
        p = -p;
    if (p >= n)
        p = 2 * (n - 1) - p;
    return p;
}

/* The DFT's twiddles of an N-point transform, bins k < nb: c[k][j] = cos(2 pi ((k j) mod N) / N)
 * and s[k][j] the sine, in double (the same values whichever (k, j) shares an angle); ct and st
 * the same by sample j first, so that the loops over bins read them in a row. */
typedef struct {
    double c[MAX_NFFT / 2 + 1][MAX_NFFT], s[MAX_NFFT / 2 + 1][MAX_NFFT];
    double ct[MAX_NFFT][MAX_NFFT / 2 + 1], st[MAX_NFFT][MAX_NFFT / 2 + 1];
} twiddles;

static void twiddles_make(int N, twiddles *t)
{
    double cs[MAX_NFFT], sn[MAX_NFFT];
    for (int i = 0; i < N; i++) {
        cs[i] = cos(2.0 * M_PI * i / N);
        sn[i] = sin(2.0 * M_PI * i / N);
    }
    for (int k = 0; k <= N / 2; k++)
        for (int j = 0; j < N; j++) {
            t->c[k][j] = t->ct[j][k] = cs[(k * j) % N];
            t->s[k][j] = t->st[j][k] = sn[(k * j) % N];
        }
}

/* Frames [f0, f1) of the STFT. */
static void stft_part(void *ctx, size_t f0, size_t f1)
{
    const src_job *jb = ctx;
    const float *x = jb->x;
    float *har = jb->out;
    int N = jb->m->n_fft, hop = jb->m->hop, nb = N / 2 + 1, M = jb->M, n = jb->n;
    float w[MAX_NFFT], fr[MAX_NFFT];
    twiddles tw;
    hann(N, w);
    twiddles_make(N, &tw);
    for (int f = (int)f0; f < (int)f1; f++) {
        double re[MAX_NFFT / 2 + 1] = {0}, im[MAX_NFFT / 2 + 1] = {0};
        for (int j = 0; j < N; j++)
            fr[j] = w[j] * x[reflect((long)f * hop + j - N / 2, n)];
        for (int j = 0; j < N; j++) /* every bin's sum over j in order, the bins side by side */
            for (int k = 0; k < nb; k++) {
                re[k] += fr[j] * tw.ct[j][k];
                im[k] -= fr[j] * tw.st[j][k];
            }
        for (int k = 0; k < nb; k++) {
            if (k == 0 || 2 * k == N)
                im[k] = 0.0; /* exactly real: +0 imaginary part, as torch */
            float fre = (float)re[k], fim = (float)im[k];
            har[(size_t)k * M + f] = hypotf(fre, fim);
            har[(size_t)(nb + k) * M + f] = atan2f(fim, fre);
        }
    }
}

void kt_stft_run(const kt_model *m, const float *x, int n, float *har)
{
    src_job jb = {m, NULL, x, NULL, NULL, 0, n, n / m->hop + 1, 0, har};
    kt_exec_range(m->ex, (size_t)jb.M, (size_t)m->n_fft, PAR_MIN, stft_part, &jb);
}

/* y[0..N) = irfft of frame f (imaginary parts of DC and Nyquist ignored). */
static void irfft_frame(const float *spec, const float *phase, int M, int f, int N, const twiddles *tw, double *y)
{
    int nb = N / 2 + 1;
    double re[MAX_NFFT / 2 + 1], im[MAX_NFFT / 2 + 1];
    for (int k = 0; k < nb; k++) {
        float mag = spec[(size_t)k * M + f], ph = phase[(size_t)k * M + f];
        re[k] = mag * cosf(ph);
        im[k] = mag * sinf(ph);
    }
    int top = (N % 2 == 0) ? nb - 1 : nb;
    for (int j = 0; j < N; j++)
        y[j] = re[0] + ((N % 2 == 0) ? ((j % 2) ? -re[nb - 1] : re[nb - 1]) : 0.0);
    for (int k = 1; k < top; k++) /* every sample's sum over k in order, the samples side by side */
        for (int j = 0; j < N; j++)
            y[j] += 2.0 * (re[k] * tw->c[k][j] - im[k] * tw->s[k][j]);
    for (int j = 0; j < N; j++)
        y[j] /= N;
}

/* Output samples [p0, p1) of the iSTFT: the frames that overlap them, in the serial
 * order, each adding only inside the range (a frame over a range edge is computed by both
 * neighbours), then the division by the window envelope. */
static void istft_part(void *ctx, size_t p0, size_t p1)
{
    const src_job *jb = ctx;
    const float *spec = jb->spec, *phase = jb->phase;
    float *audio = jb->out;
    int N = jb->m->n_fft, hop = jb->m->hop, pad = N / 2, M = jb->M;
    long len = (long)p1, lo = (long)p0;
    float w[MAX_NFFT];
    double y[MAX_NFFT];
    twiddles tw;
    hann(N, w);
    twiddles_make(N, &tw);
    memset(audio + lo, 0, sizeof(float) * (size_t)(len - lo));
    long fa = (lo + pad - N + 1) / hop; /* the first frame reaching lo: f * hop + N - 1 - pad >= lo */
    for (int f = fa > 0 ? (int)fa : 0; f < M && (long)f * hop - pad < len; f++) {
        if ((long)f * hop + N - 1 - pad < lo)
            continue;
        irfft_frame(spec, phase, M, f, N, &tw, y);
        for (int j = 0; j < N; j++) {
            long p = (long)f * hop + j - pad;
            if (p >= lo && p < len)
                audio[p] += (float)(w[j] * y[j]);
        }
    }
    for (long p = lo; p < len; p++) { /* divide by the window envelope sum_m w^2 */
        long q = p + pad;
        double env = 0.0;
        for (long f = (q - N + 1 + hop - 1) / hop; f * hop <= q; f++)
            if (f >= 0 && f < M)
                env += (double)w[q - f * hop] * w[q - f * hop];
        audio[p] = env > 1e-11 ? (float)(audio[p] / env) : audio[p];
    }
}

void kt_istft_run(const kt_model *m, const float *spec, const float *phase, int M, float *audio)
{
    src_job jb = {m, NULL, NULL, spec, phase, 0, 0, M, 0, audio};
    kt_exec_range(m->ex, (size_t)m->hop * (size_t)(M - 1), 1, PAR_MIN, istft_part, &jb);
}
