/* kokoro.c - load a Kokoro checkpoint (bind, validate, fold weight norm) and run
 * the whole forward pass for one utterance. */
#include "kt/kokoro.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kokoro_impl.h"
#include "kt/grow.h"
#include "kt/quant.h"

#define MAX_FRAMES 24000 /* 10 minutes of audio per call */

/* n floats; buffers of 4 MB and more are 2 MB aligned and asked to be backed by
 * transparent huge pages (fewer page faults and TLB misses on the big weights and work
 * buffers). Freed with free(). */
static float *big_alloc(size_t n)
{
    size_t bytes = sizeof(float) * (n ? n : 1), huge = (size_t)2 << 20;
    if (bytes < 2 * huge)
        return malloc(bytes);
    void *p = NULL;
    if (posix_memalign(&p, huge, (bytes + huge - 1) / huge * huge))
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, (bytes + huge - 1) / huge * huge, MADV_HUGEPAGE);
#endif
    return p;
}

void kt_drop_pages(const void *p, size_t bytes)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (!p || pg <= 0)
        return;
    uintptr_t lo = ((uintptr_t)p + (uintptr_t)pg - 1) / (uintptr_t)pg * (uintptr_t)pg;
    uintptr_t hi = ((uintptr_t)p + bytes) / (uintptr_t)pg * (uintptr_t)pg;
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* ---- convolutions: packed direct kernel or im2col + sgemm ---- */

size_t kt_conv_need(const kt_conv1d *c, const kt_packed *wp, int L)
{
    return wp->codes ? kt_conv1d_packed_scratch(c, L) : kt_conv1d_scratch(c, L);
}

kt_status kt_conv_run(const kt_conv1d *c, const kt_packed *wp, const float *x, int L, float *y, kt_arena *a,
                      kt_error *err)
{
    return wp->codes ? kt_conv1d_packed_forward(c, wp, x, L, y, 0, a, err) : kt_conv1d_forward(c, x, L, y, a, err);
}

/* ---- binding -------------------------------------------------------------------- */

typedef struct {
    kt_model *m;
    int full; /* 0: only check that names exist; 1: shapes, conversion and folding */
    kt_status st;
    kt_error *err;
    kt_tensor_list *list; /* listing mode: collect names and shapes, no checkpoint */
    kt_owned *set;        /* where own() records its buffers */
    kt_wino *wino_out;    /* set: the conv being bound runs by Winograd; its weight goes here */
    struct file_spans *borrowed; /* set: the tensors kept in the file's pages (read_borrowed) */
    int no_fft;                  /* 1: the conv being bound stays off FFT (Winograd or direct) */
} binder;

/* n floats of memory for o's next buffer, recorded in o: buffers of 256 KB and more are
 * anonymous mappings (2 MB aligned, asked for transparent huge pages from 4 MB), so that
 * owned_clear returns them to the system at once (a malloc'd block freed in the middle of
 * the heap would stay in the process). NULL when out of memory. */
static float *owned_alloc(kt_owned *o, size_t n)
{
    size_t bytes = sizeof(float) * (n ? n : 1), huge = (size_t)2 << 20;
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 256;
        float **p = realloc(o->p, cap * sizeof *p);
        if (p)
            o->p = p;
        size_t *z = p ? realloc(o->bytes, cap * sizeof *z) : NULL;
        if (!z)
            return NULL;
        o->bytes = z;
        o->cap = cap;
    }
    void *p;
    if (bytes < ((size_t)256 << 10)) {
        if (!(p = malloc(bytes)))
            return NULL;
        bytes = 0;
    } else {
        size_t align = bytes >= 2 * huge ? huge : (size_t)sysconf(_SC_PAGESIZE), len = (bytes + align - 1) / align * align;
        char *q = mmap(NULL, len + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (q == MAP_FAILED)
            return NULL;
        size_t head = (align - (uintptr_t)q % align) % align;
        if (head)
            munmap(q, head);
        munmap(q + head + len, align - head);
        p = q + head;
        bytes = len;
#ifdef MADV_HUGEPAGE
        if (align == huge)
            madvise(p, len, MADV_HUGEPAGE);
#endif
    }
    o->p[o->n] = p;
    o->bytes[o->n++] = bytes;
    return p;
}

/* Frees o's buffer i (the last one takes its place). */
static void owned_free_at(kt_owned *o, size_t i)
{
    if (o->bytes[i])
        munmap(o->p[i], o->bytes[i]);
    else
        free(o->p[i]);
    o->p[i] = o->p[o->n - 1];
    o->bytes[i] = o->bytes[o->n - 1];
    o->n--;
}

/* Frees every buffer of o (the set stays usable, empty). */
static void owned_clear(kt_owned *o)
{
    while (o->n)
        owned_free_at(o, o->n - 1);
}

/* Frees every buffer of o and its lists (o is then unusable). */
static void owned_free(kt_owned *o)
{
    owned_clear(o);
    free(o->p);
    free(o->bytes);
}

/* The weights a model reads straight from the checkpoint's pages (float32 tensors it keeps as
 * they are, a compact file's kept views), listed while binding so that read_borrowed reads one
 * byte of each page before the first synthesis does: the first access of a file page in a
 * process costs a page fault and, on a VM, measured ~2.3 us per 4 KB page even when the page is
 * in the page cache and its page table entry already filled. */
typedef struct {
    const unsigned char *p;
    size_t bytes;
} file_span;

typedef struct file_spans {
    file_span *s;
    size_t n, cap;
} file_spans;

static void spans_add(file_spans *l, const void *p, size_t bytes)
{
    void *s = l ? l->s : NULL;
    if (!l || !bytes || kt_grow(&s, &l->cap, l->n + 1, sizeof *l->s))
        return; /* out of memory: the pages fault in during the first synthesis instead */
    l->s = s;
    l->s[l->n++] = (file_span){p, bytes};
}

/* Forgets every span starting at p (its pages were given back). */
static void spans_drop(file_spans *l, const void *p)
{
    for (size_t i = 0; l && i < l->n;)
        if (l->s[i].p == p)
            l->s[i] = l->s[--l->n];
        else
            i++;
}

typedef struct {
    const file_spans *l;
    size_t *first; /* first[i]: the index of span i's first page among all; first[n]: the count */
    size_t page;
} page_reads;

/* Reads one byte of the pages i0 .. i1 of the spans (in order, whole pages around each span). */
static void read_pages(void *ctx, size_t i0, size_t i1)
{
    const page_reads *j = ctx;
    size_t k = 0, lo = 0, hi = j->l->n;
    while (lo < hi) { /* the span of page i0: the last k with first[k] <= i0 */
        size_t mid = (lo + hi) / 2;
        if (j->first[mid] <= i0)
            k = mid, lo = mid + 1;
        else
            hi = mid;
    }
    unsigned sum = 0;
    for (size_t i = i0; i < i1; i++) {
        while (i >= j->first[k + 1])
            k++;
        uintptr_t base = (uintptr_t)j->l->s[k].p / j->page * j->page;
        sum += *(volatile const unsigned char *)(base + (i - j->first[k]) * j->page);
    }
    (void)sum;
}

/* The pages of l's spans read once on the pool's threads (see file_spans). */
static void read_borrowed(kt_exec *ex, const file_spans *l)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t *first = l->n ? malloc((l->n + 1) * sizeof *first) : NULL;
    if (!first || pg <= 0) {
        free(first);
        return;
    }
    page_reads j = {l, first, (size_t)pg};
    first[0] = 0;
    for (size_t i = 0; i < l->n; i++)
        first[i + 1] = first[i] + ((uintptr_t)l->s[i].p % j.page + l->s[i].bytes + j.page - 1) / j.page;
    kt_exec_range(ex, first[l->n], j.page, (size_t)1 << 20, read_pages, &j);
    free(first);
}

#define POPULATE_STEP ((size_t)2 << 20) /* bytes each madvise call maps in */

typedef struct {
    char *p;
    size_t bytes;
} byte_span; /* a buffer whose pages the pool's threads map in (populate_part, touch_pages) */

static void populate_part(void *ctx, size_t i0, size_t i1)
{
#ifdef MADV_POPULATE_WRITE
    const byte_span *j = ctx;
    for (size_t i = i0; i < i1; i++) {
        size_t o = i * POPULATE_STEP, len = j->bytes - o < POPULATE_STEP ? j->bytes - o : POPULATE_STEP;
        madvise(j->p + o, len, MADV_POPULATE_WRITE);
    }
#else
    (void)ctx;
    (void)i0;
    (void)i1;
#endif
}

/* A buffer of n floats for b's set (owned_alloc). One that is a mapping of its own has its pages
 * mapped in by MADV_POPULATE_WRITE on the pool's threads (Linux 5.14 and later; before, they
 * fault in as they are written): every buffer is written in full next, and a page fault per page
 * is a trap, on a VM one that exits to the hypervisor as well. */
static float *own(binder *b, size_t n)
{
    if (b->st)
        return NULL;
    float *buf = owned_alloc(b->set, n);
    if (!buf) {
        b->st = kt_error_set(b->err, KT_ENOMEM, "out of memory");
        return NULL;
    }
    size_t bytes = b->set->bytes[b->set->n - 1]; /* 0: a malloc'd block */
    if (bytes) {
        byte_span j = {(char *)buf, bytes};
        kt_exec_range(b->m->ex, (bytes + POPULATE_STEP - 1) / POPULATE_STEP, POPULATE_STEP, 2 * POPULATE_STEP,
                      populate_part, &j);
    }
    return buf;
}

static void shape_str(char *buf, size_t cap, int nd, const int64_t *d)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < nd && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)d[i]);
    if (o < cap)
        snprintf(buf + o, cap - o, "]");
}

static int shape_ok(binder *b, const char *name, int tnd, const int64_t *ts, int nd, const int64_t *d)
{
    int same = tnd == nd;
    for (int i = 0; same && i < nd; i++)
        same = ts[i] == d[i];
    if (!same) {
        char have[128], want[128];
        shape_str(have, sizeof have, tnd, ts);
        shape_str(want, sizeof want, nd, d);
        b->st = kt_error_set(b->err, KT_EFORMAT, "config does not match weights: %s has shape %s but the config implies %s",
                             name, have, want);
    }
    return same;
}

/* A q8/q4 tensor (kt-convert's NAME + NAME.scale with kt.quant.NAME metadata) or a contiguous
 * float16/bfloat16 one, decoded to float32. */
static const float *quantized(binder *b, const char *name, int nd, const int64_t *d)
{
    kt_qview v;
    if ((b->st = kt_qview_open(b->m->ckpt, name, &v, b->err)) || !shape_ok(b, name, v.ndim, v.shape, nd, d))
        return NULL;
    float *buf = own(b, (size_t)(v.rows * v.cols));
    if (!buf)
        return NULL;
    kt_qview_decode(&v, buf);
    kt_checkpoint_release(b->m->ckpt, v.codes, (uint64_t)(v.rows * v.row_bytes));
    if (v.scales)
        kt_checkpoint_release(b->m->ckpt, v.scales, (uint64_t)(v.rows * v.groups) * sizeof(float));
    return buf;
}

/* The tensor `name` as contiguous float32 with shape d[0..nd) (NULL in the existence pass):
 * borrowed when the file holds it as contiguous float32, else decoded once into an owned
 * buffer (float16/bfloat16/float64 casts, q8/q4 codes) and the file's pages given back. */
static const float *tensor(binder *b, const char *name, int nd, const int64_t *d)
{
    if (b->st)
        return NULL;
    if (b->list) {
        kt_tensor t = {KT_F32, nd, {0}, {0}, NULL, NULL};
        for (int i = 0; i < nd; i++)
            t.shape[i] = d[i];
        b->st = kt_tensor_list_add(b->list, name, &t, b->err);
        return NULL;
    }
    const kt_tensor *t = kt_checkpoint_find(b->m->ckpt, name);
    if (!t) {
        b->st = kt_error_set(b->err, KT_ENOTFOUND, "not a Kokoro checkpoint: missing tensor %s", name);
        return NULL;
    }
    if (!b->full)
        return NULL;
    char key[320];
    snprintf(key, sizeof key, "kt.quant.%s", name);
    if (kt_checkpoint_metadata(b->m->ckpt, key) ||
        ((t->dtype == KT_F16 || t->dtype == KT_BF16) && kt_tensor_is_contiguous(t)))
        return quantized(b, name, nd, d);
    if (!shape_ok(b, name, t->ndim, t->shape, nd, d))
        return NULL;
    if (t->dtype == KT_F32 && kt_tensor_is_contiguous(t)) {
        spans_add(b->borrowed, t->data, kt_tensor_nbytes(t));
        return t->data;
    }
    if (t->dtype != KT_F32 && t->dtype != KT_F64 && t->dtype != KT_F16 && t->dtype != KT_BF16) {
        b->st = kt_error_set(b->err, KT_EFORMAT, "config does not match weights: %s is %s, not floating point", name,
                             kt_dtype_name(t->dtype));
        return NULL;
    }
    float *buf = own(b, (size_t)kt_tensor_numel(t));
    if (buf && !(b->st = kt_tensor_to_f32(t, buf, b->err)) && kt_tensor_is_contiguous(t))
        kt_checkpoint_release(b->m->ckpt, t->data, kt_tensor_nbytes(t));
    return buf;
}

static const float *tens(binder *b, int d0, int d1, int d2, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int64_t d[3] = {d0, d1, d2};
    int nd = d2 > 0 ? 3 : d1 > 0 ? 2 : 1;
    return tensor(b, name, nd, d);
}

/* Frees a buffer of the binder's set; 0 when p is not in it (borrowed from the file). */
static int disown(binder *b, const float *p)
{
    kt_owned *o = b->set;
    for (size_t i = o->n; i-- > 0;)
        if (o->p[i] == p) {
            owned_free_at(o, i);
            return 1;
        }
    return 0;
}

/* A weight-derived buffer no longer needed: freed when owned, else its file pages given back. */
static void done_with(binder *b, const float *p, size_t n)
{
    if (p && !disown(b, p)) {
        kt_checkpoint_release(b->m->ckpt, p, sizeof(float) * n);
        spans_drop(b->borrowed, p);
    }
}

typedef struct {
    const float *g, *v;
    float *w;     /* the folded weight, or its packed form (fold_pack_task) */
    int d0;       /* rows (output channels) */
    size_t row;   /* floats per row: cin * k */
    int cin, k;   /* fold_pack_task */
} fold_job;

/* g[o] / ||v[o, :]|| (row floats of v's row o), the norm summed in double in 4 lanes. */
static double wn_scale(float g, const float *vr, size_t row)
{
    double ss[4] = {0.0, 0.0, 0.0, 0.0};
    size_t i = 0;
    for (; i + 4 <= row; i += 4)
        for (int u = 0; u < 4; u++)
            ss[u] += (double)vr[i + u] * vr[i + u];
    for (; i < row; i++)
        ss[0] += (double)vr[i] * vr[i];
    return g / sqrt((ss[0] + ss[1]) + (ss[2] + ss[3]));
}

/* Rows of w = g * v / ||v|| for this thread (the load runs on the model's thread pool). */
static void fold_task(void *p, int tid, int n)
{
    const fold_job *jb = p;
    size_t row = jb->row;
    for (int o = (int)((long)jb->d0 * tid / n); o < (int)((long)jb->d0 * (tid + 1) / n); o++) {
        const float *vr = jb->v + (size_t)o * row;
        double sc = wn_scale(jb->g[o], vr, row);
        for (size_t i = 0; i < row; i++)
            jb->w[(size_t)o * row + i] = (float)(vr[i] * sc);
    }
}

/* Row tiles of the packed weight g * v / ||v|| for this thread: fold_task's floats packed as
 * kt_conv_pack packs them, without the folded copy. */
static void fold_pack_task(void *p, int tid, int n)
{
    const fold_job *jb = p;
    int cin = jb->cin, k = jb->k, tiles = (jb->d0 + KT_PACK_MR - 1) / KT_PACK_MR;
    size_t row = jb->row;
    for (int t = tiles * tid / n; t < tiles * (tid + 1) / n; t++) {
        int r0 = t * KT_PACK_MR, rows = jb->d0 - r0 < KT_PACK_MR ? jb->d0 - r0 : KT_PACK_MR;
        double sc[KT_PACK_MR];
        for (int r = 0; r < rows; r++)
            sc[r] = wn_scale(jb->g[r0 + r], jb->v + (size_t)(r0 + r) * row, row);
        kt_conv_pack_scaled(jb->v + (size_t)r0 * row, sc, rows, cin, k, jb->w + kt_conv_pack_size(r0, cin, k));
    }
}

typedef struct {
    const float *w;
    int cout, cin, k, bf16; /* bf16: 0 float32 (kt_conv_pack), 1 KT_PACK_BF16X2, 2 KT_PACK_BF16T */
    void *wp;
} pack_job;

/* Row tiles of the packed weight for this thread (tiles are contiguous in both layouts). */
static void pack_task(void *p, int tid, int n)
{
    const pack_job *jb = p;
    if (jb->bf16 == 2) { /* tiles of KT_I8Q_ROWS rows */
        int nt = (jb->cout + KT_I8Q_ROWS - 1) / KT_I8Q_ROWS;
        kt_conv_pack_bf16t(jb->w, jb->cout, jb->cin, jb->k, nt * tid / n, nt * (tid + 1) / n, jb->wp);
        return;
    }
    int tiles = (jb->cout + KT_PACK_MR - 1) / KT_PACK_MR, t0 = tiles * tid / n, t1 = tiles * (tid + 1) / n;
    int r0 = t0 * KT_PACK_MR, rows = (t1 * KT_PACK_MR < jb->cout ? t1 * KT_PACK_MR : jb->cout) - r0;
    if (rows <= 0)
        return;
    const float *w = jb->w + (size_t)r0 * jb->cin * jb->k;
    if (jb->bf16)
        kt_conv_pack_bf16x2(w, rows, jb->cin, jb->k,
                            (uint32_t *)jb->wp + kt_conv_pack_bf16x2_size(r0, jb->cin, jb->k));
    else
        kt_conv_pack(w, rows, jb->cin, jb->k, (float *)jb->wp + kt_conv_pack_size(r0, jb->cin, jb->k));
}

static void pack_f32(binder *b, const float *w, int cout, int cin, int k, float *wp, int bf16)
{
    pack_job jb = {w, cout, cin, k, bf16, wp};
    kt_exec_run(b->m->ex, pack_task, &jb);
}

/* prefix.weight when the file holds weight norm already folded (kt-convert --fold-weight-norm). */
static int is_folded(binder *b, const char *prefix)
{
    char n[300];
    if (b->list || !b->m->ckpt)
        return 0;
    snprintf(n, sizeof n, "%s.weight_v", prefix);
    if (kt_checkpoint_find(b->m->ckpt, n))
        return 0;
    snprintf(n, sizeof n, "%s.weight", prefix);
    return kt_checkpoint_find(b->m->ckpt, n) != NULL;
}

/* w = g * v / ||v|| (norm over all dims but 0, no epsilon) for prefix.weight_{g,v}, v [d0, d1, d2];
 * or prefix.weight when the file has it folded. */
static const float *wn(binder *b, const char *prefix, int d0, int d1, int d2)
{
    if (is_folded(b, prefix))
        return tens(b, d0, d1, d2, "%s.weight", prefix);
    const float *g = tens(b, d0, 1, 1, "%s.weight_g", prefix);
    const float *v = tens(b, d0, d1, d2, "%s.weight_v", prefix);
    if (!b->full || b->st)
        return NULL;
    size_t row = (size_t)d1 * d2;
    float *w = own(b, (size_t)d0 * row);
    if (!w)
        return NULL;
    fold_job jb = {g, v, w, d0, row, d1, d2};
    kt_exec_run(b->m->ex, fold_task, &jb);
    done_with(b, v, (size_t)d0 * row);
    return w;
}

static void lin(binder *b, kt_linear *l, int out, int in, int bias, const char *prefix)
{
    l->in = in;
    l->out = out;
    l->qv = NULL;
    l->w = tens(b, out, in, 0, "%s.weight", prefix);
    l->b = bias ? tens(b, out, 0, 0, "%s.bias", prefix) : NULL;
}

/* A compact view kept for reading from the file mapping: its codes and scales are listed for
 * read_borrowed. */
static kt_qview *keep_view(binder *b, const kt_qview *v)
{
    kt_qview *keep = (kt_qview *)(void *)own(b, (sizeof *v + sizeof(float) - 1) / sizeof(float));
    if (!keep)
        return NULL;
    *keep = *v;
    spans_add(b->borrowed, v->codes, (size_t)(v->rows * v->row_bytes));
    if (v->scales)
        spans_add(b->borrowed, v->scales, (size_t)(v->rows * v->groups) * sizeof(float));
    return keep;
}

/* A linear whose compact stored weight (f16/bf16/q8/q4) stays in the file mapping (l->w NULL,
 * l->qv its kt_qview): style projections (fc of AdaIN / AdaLayerNorm, one vector per
 * utterance) read it row by row; ALBERT decodes it into its work buffer once per call. */
static void compact_lin(binder *b, kt_linear *l, int out, int in, const char *prefix)
{
    char name[300];
    kt_qview v;
    snprintf(name, sizeof name, "%s.weight", prefix);
    if (b->full && !b->st && !b->list && kt_qview_open(b->m->ckpt, name, &v, NULL) == KT_OK &&
        v.scheme != KT_QUANT_F32 && v.rows == out && v.cols == in && v.ndim == 2) {
        kt_qview *keep = keep_view(b, &v);
        if (!keep)
            return;
        *l = (kt_linear){NULL, tens(b, out, 0, 0, "%s.bias", prefix), in, out, keep};
        return;
    }
    lin(b, l, out, in, 1, prefix);
}

/* The bfloat16 compute form of float32 w[cout, cin, k]: for AMX tiles where the exec has them. */
static void pack_bf16_compute(binder *b, const float *w, int cout, int cin, int k, kt_packed *pk)
{
    int tiles = kt_exec_has_amx_bf16(b->m->ex);
    size_t words = tiles ? kt_conv_pack_bf16t_size(cout, cin, k) : kt_conv_pack_bf16x2_size(cout, cin, k);
    uint32_t *p = (uint32_t *)(void *)own(b, words);
    if (!p)
        return;
    pack_f32(b, w, cout, cin, k, (float *)(void *)p, tiles ? 2 : 1);
    *pk = (kt_packed){tiles ? KT_PACK_BF16T : KT_PACK_BF16X2, p, NULL, 0, NULL};
}

typedef struct {
    const float *w;
    int packed; /* w: a kt_conv_pack weight; 0: w[cout, cin, k] */
    int cout, cin, k;
    float *u;
    int fft; /* 1: the FFT form (kt/fftconv.h) */
} wino_job;

static void wino_task(void *p, int tid, int n)
{
    const wino_job *jb = p;
    int tiles = (jb->cout + KT_PACK_MR - 1) / KT_PACK_MR, t0 = tiles * tid / n, t1 = tiles * (tid + 1) / n;
    if (jb->fft && jb->packed)
        kt_fft_pack_tiles_packed(jb->w, jb->cout, jb->cin, jb->k, t0, t1, jb->u);
    else if (jb->fft)
        kt_fft_pack_tiles(jb->w, jb->cout, jb->cin, jb->k, t0, t1, jb->u);
    else if (jb->packed)
        kt_wino_pack_tiles_packed(jb->w, jb->cout, jb->cin, jb->k, t0, t1, jb->u);
    else
        kt_wino_pack_tiles(jb->w, jb->cout, jb->cin, jb->k, t0, t1, jb->u);
}

/* A conv that runs by Winograd runs by FFT overlap-save instead when the model does (m->fft),
 * in float32 compute with the AVX-512 kernels (the FFT's transposes; with AVX2 Winograd is
 * faster), for kernels of KT_FFT_MIN_K .. KT_FFT_KMAX taps at up to KT_FFT_MAX_CH channels. */
static int fft_wanted(const binder *b, int cout, int cin, int k)
{
    const kt_model *m = b->m;
    return m->fft && !b->no_fft && !m->bf16 && kt_exec_isa(m->ex) == KT_ISA_AVX512 && k >= KT_FFT_MIN_K &&
           k <= KT_FFT_KMAX && cout <= KT_FFT_MAX_CH && cin <= KT_FFT_MAX_CH;
}

/* *b->wino_out = the Winograd weight of float32 w (packed or [cout, cin, k]), rounded to
 * bfloat16 pairs once transformed when the model computes in bf16, or its FFT weight where
 * fft_wanted; 0 when out of memory. */
static int wino_make(binder *b, const float *w, int packed, int cout, int cin, int k)
{
    int bf = b->m->bf16, fft = fft_wanted(b, cout, cin, k); /* fft: float32 compute only */
    size_t nu = fft ? kt_fft_pack_size(cout, cin) : kt_wino_pack_size(cout, cin, k);
    float *u = bf ? malloc(sizeof(float) * nu) : own(b, nu);
    float *ub = bf && u ? own(b, kt_wino_pack_bf16_size(cout, cin, k)) : u;
    if (!u || !ub) {
        if (!u && !b->st)
            b->st = kt_error_set(b->err, KT_ENOMEM, "out of memory");
        if (bf)
            free(u);
        return 0;
    }
    wino_job jb = {w, packed, cout, cin, k, u, fft};
    kt_exec_run(b->m->ex, wino_task, &jb);
    if (bf) {
        kt_wino_pack_bf16(u, cout, cin, k, (uint32_t *)(void *)ub);
        free(u);
    }
    *b->wino_out = (kt_wino){ub, fft ? 0 : kt_wino_pieces(k), bf, fft};
    return 1;
}

/* A generator resblock conv runs by Winograd F(4,4) when the model runs them (m->winograd: in
 * float32 compute, and in bf16 compute when it is KT_WINOGRAD_BF16, except where the exec has
 * AMX-BF16 tiles: there the direct conv is the faster one, and it keeps the direct form's
 * accuracy) and has KT_WINO_MIN_K taps or more (KT_WINO_BF16_MIN_K in bf16 compute). */
static int wino_wanted(const binder *b, int k, int dil)
{
    int bf16w = b->m->winograd == KT_WINOGRAD_BF16 && !kt_exec_has_amx_bf16(b->m->ex);
    int on = b->m->bf16 ? bf16w : b->m->winograd != 0;
    return b->full && on && k >= (b->m->bf16 ? KT_WINO_BF16_MIN_K : KT_WINO_MIN_K) && dil <= KT_WINO_DMAX;
}

/* The Winograd weight of a conv packed as float32, in place of the direct one (freed). */
static void wino_from_packed(binder *b, const kt_conv1d *c, kt_packed *pk)
{
    if (b->st || pk->dtype != KT_PACK_F32 || !pk->codes || !wino_make(b, pk->codes, 1, c->cout, c->cin, c->k))
        return;
    disown(b, pk->codes);
    pk->codes = NULL;
}

/* KT_PACK_I8Q packing of int8 codes q[cout, cin * k] (scales s[cout]) on the model's threads, each
 * thread its tiles of KT_I8Q_ROWS rows; with w set, those rows are first quantized from float32
 * w (one scale per row, kt_q8_quantize_row) into q and s. */
typedef struct {
    const float *w;
    int8_t *qw;
    float *sw;
    const int8_t *q;
    const float *s;
    int cout, cin, k;
    uint32_t *wp;
    float *sp;
    int32_t *sums;
} i8q_job;

static void i8q_task(void *p, int tid, int n)
{
    const i8q_job *j = p;
    int tiles = (j->cout + KT_I8Q_ROWS - 1) / KT_I8Q_ROWS, t0 = tiles * tid / n, t1 = tiles * (tid + 1) / n;
    size_t K = (size_t)j->cin * j->k;
    for (int r = t0 * KT_I8Q_ROWS; j->w && r < t1 * KT_I8Q_ROWS && r < j->cout; r++)
        kt_q8_quantize_row(j->w + (size_t)r * K, (int64_t)K, j->qw + (size_t)r * K, &j->sw[r]);
    kt_conv_pack_i8q_tiles(j->q, j->s, j->cout, j->cin, j->k, t0, t1, j->wp, j->sp, j->sums);
}

/* Packs name [cout, cin, k] straight from its stored form, staying compact: float32 ->
 * float32 tiles, bfloat16/float16 -> 16-bit tiles, q8/q4 -> int8 tiles + scales. */
static void conv_compact(binder *b, const char *name, int cout, int cin, int k, kt_packed *pk)
{
    kt_qview v;
    int64_t d[3] = {cout, cin, k};
    size_t n = kt_conv_pack_size(cout, cin, k), K = (size_t)cin * k;
    if ((b->st = kt_qview_open(b->m->ckpt, name, &v, b->err)) || !shape_ok(b, name, v.ndim, v.shape, 3, d))
        return;
    if (b->m->bf16) {
        float *w = malloc(sizeof(float) * n);
        if (!w) {
            b->st = kt_error_set(b->err, KT_ENOMEM, "out of memory");
            return;
        }
        kt_qview_decode(&v, w);
        if (b->wino_out)
            wino_make(b, w, 0, cout, cin, k);
        else
            pack_bf16_compute(b, w, cout, cin, k, pk);
        free(w);
        kt_checkpoint_release(b->m->ckpt, v.codes, (uint64_t)(v.rows * v.row_bytes));
        return;
    }
    int vnni = v.scheme == KT_QUANT_Q8 && kt_exec_vnni_conv(b->m->ex, k);
    size_t words = v.scheme == KT_QUANT_F32                                 ? n
                   : v.scheme == KT_QUANT_F16 || v.scheme == KT_QUANT_BF16 ? (n + 1) / 2
                   : v.scheme == KT_QUANT_Q4 ? (kt_conv_pack_i4_size(cout, cin, k) + 3) / 4
                   : vnni                    ? kt_conv_pack_i8q_words(cout, cin, k)
                                             : (n + 3) / 4;
    if (v.scheme == KT_QUANT_F32 && b->wino_out) { /* straight from the file to the Winograd form */
        if (wino_make(b, (const float *)(const void *)v.codes, 0, cout, cin, k))
            kt_checkpoint_release(b->m->ckpt, v.codes, (uint64_t)(v.rows * v.row_bytes));
        return;
    }
    void *p = own(b, words);
    if (!p)
        return;
    if (v.scheme == KT_QUANT_F32) {
        pack_f32(b, (const float *)(const void *)v.codes, cout, cin, k, p, 0);
        *pk = (kt_packed){KT_PACK_F32, p, NULL, 0, NULL};
    } else if (v.scheme == KT_QUANT_F16 || v.scheme == KT_QUANT_BF16) {
        kt_conv_pack_u16((const uint16_t *)(const void *)v.codes, cout, cin, k, p);
        *pk = (kt_packed){v.scheme == KT_QUANT_F16 ? KT_PACK_F16 : KT_PACK_BF16, p, NULL, 0, NULL};
    } else {
        int group = v.scheme == KT_QUANT_Q8 ? (int)K : (int)v.group;
        float *sp = own(b, kt_conv_pack_scales(cout, cin, k, group));
        if (!sp)
            return;
        if (vnni) { /* the form the VNNI kernel reads, with its row sums */
            int32_t *sums = (int32_t *)(void *)own(b, kt_conv_pack_i8q_sums(cout, cin));
            if (!sums)
                return;
            i8q_job jb = {NULL, NULL, NULL, (const int8_t *)v.codes, v.scales, cout, cin, k, p, sp, sums};
            kt_exec_run(b->m->ex, i8q_task, &jb);
            *pk = (kt_packed){KT_PACK_I8Q, p, sp, group, sums};
        } else {
            if (v.scheme == KT_QUANT_Q4) /* nibbles stay nibbles: half the bytes of int8 tiles */
                kt_conv_pack_i4(v.codes, (size_t)v.row_bytes, v.scales, group, cout, cin, k, p, sp);
            else
                kt_conv_pack_i8((const int8_t *)v.codes, v.scales, group, cout, cin, k, p, sp);
            *pk = (kt_packed){v.scheme == KT_QUANT_Q4 ? KT_PACK_I4 : KT_PACK_I8, p, sp, group, NULL};
        }
    }
    kt_checkpoint_release(b->m->ckpt, v.codes, (uint64_t)(v.rows * v.row_bytes));
    if (v.scales)
        kt_checkpoint_release(b->m->ckpt, v.scales, (uint64_t)(v.rows * v.groups) * sizeof(float));
}

/* A weight folded from a float16/bfloat16 weight_v is stored packed in that dtype again
 * (the model stays in the file's precision and size). */
static void keep_dtype(binder *b, const char *prefix, size_t n, kt_packed *pk)
{
    char name[300];
    snprintf(name, sizeof name, "%s.weight_v", prefix);
    const kt_tensor *t = kt_checkpoint_find(b->m->ckpt, name);
    if (!t || (t->dtype != KT_F16 && t->dtype != KT_BF16))
        return;
    uint16_t *u = (uint16_t *)(void *)own(b, (n + 1) / 2);
    if (!u)
        return;
    const float *f = pk->codes;
    for (size_t i = 0; i < n; i++)
        u[i] = t->dtype == KT_F16 ? kt_f32_to_f16(f[i]) : kt_f32_to_bf16(f[i]);
    disown(b, f);
    *pk = (kt_packed){t->dtype == KT_F16 ? KT_PACK_F16 : KT_PACK_BF16, u, NULL, 0, NULL};
}

#define PACK_MAX_K 64 /* larger kernels stay on im2col + sgemm */

/* prefix.weight_v is stored as contiguous float32. */
static int weight_v_f32(binder *b, const char *prefix)
{
    char name[300];
    snprintf(name, sizeof name, "%s.weight_v", prefix);
    const kt_tensor *t = kt_checkpoint_find(b->m->ckpt, name);
    snprintf(name, sizeof name, "kt.quant.%s.weight_v", prefix);
    return t && t->dtype == KT_F32 && kt_tensor_is_contiguous(t) && !kt_checkpoint_metadata(b->m->ckpt, name);
}

/* The packed float32 weight of the weight-normed conv at prefix (weight_v float32), straight
 * from g and v (fold_pack_task): no folded copy. */
static void fold_packed(binder *b, const char *prefix, int cout, int cin, int k, kt_packed *pk)
{
    const float *g = tens(b, cout, 1, 1, "%s.weight_g", prefix);
    const float *v = tens(b, cout, cin, k, "%s.weight_v", prefix);
    float *p = b->st ? NULL : own(b, kt_conv_pack_size(cout, cin, k));
    if (!p)
        return;
    fold_job jb = {g, v, p, cout, (size_t)cin * k, cin, k};
    kt_exec_run(b->m->ex, fold_pack_task, &jb);
    done_with(b, v, (size_t)cout * cin * k);
    *pk = (kt_packed){KT_PACK_F32, p, NULL, 0, NULL};
}

/* Conv1d at prefix: weight-normed (wnorm) or plain, with or without bias. Stride-1
 * convs get packed weights in *pk (c->w is then NULL; the folded copy is freed); a
 * plain or already folded weight is packed from the file in its stored dtype. */
static void conv(binder *b, kt_conv1d *c, kt_packed *pk, const char *prefix, int cin, int cout, int k,
                 int stride, int pad, int dil, int wnorm, int bias)
{
    *c = (kt_conv1d){NULL, NULL, cin, cout, k, stride, pad, dil};
    *pk = (kt_packed){KT_PACK_F32, NULL, NULL, 0, NULL};
    int packed = b->full && !b->st && stride == 1 && k <= PACK_MAX_K;
    /* a float32 weight_v in float32 compute: packed without a folded copy, or for Winograd
     * transformed from the folded copy (not folded, packed, then transformed) */
    int f32v = packed && wnorm && !b->m->bf16 && weight_v_f32(b, prefix);
    if (packed && (!wnorm || is_folded(b, prefix))) {
        char n[300];
        snprintf(n, sizeof n, "%s.weight", prefix);
        conv_compact(b, n, cout, cin, k, pk);
    } else if (f32v && !b->wino_out) {
        fold_packed(b, prefix, cout, cin, k, pk);
    } else {
        c->w = wnorm ? wn(b, prefix, cout, cin, k) : tens(b, cout, cin, k, "%s.weight", prefix);
        if (packed && !b->st && (b->m->bf16 || f32v)) { /* f32v here: Winograd */
            if (b->wino_out)
                wino_make(b, c->w, 0, cout, cin, k);
            else
                pack_bf16_compute(b, c->w, cout, cin, k, pk);
            done_with(b, c->w, (size_t)cout * cin * k);
            c->w = NULL;
        } else if (packed && !b->st) {
            float *p = own(b, kt_conv_pack_size(cout, cin, k));
            if (p) {
                pack_f32(b, c->w, cout, cin, k, p, 0);
                done_with(b, c->w, (size_t)cout * cin * k);
                c->w = NULL;
                *pk = (kt_packed){KT_PACK_F32, p, NULL, 0, NULL};
                if (wnorm)
                    keep_dtype(b, prefix, kt_conv_pack_size(cout, cin, k), pk);
            }
        }
    }
    c->b = bias ? tens(b, cout, 0, 0, "%s.bias", prefix) : NULL;
}

/* A matrix name [rows, cols] kept compact (its kt_qview, *q) when the file stores it as
 * f16/bf16/q8/q4; otherwise float32 as tens() gives it (*q NULL). */
static const float *matrix(binder *b, const kt_qview **q, int rows, int cols, const char *name)
{
    kt_qview v;
    *q = NULL;
    if (b->full && !b->st && !b->list && kt_qview_open(b->m->ckpt, name, &v, NULL) == KT_OK &&
        v.scheme != KT_QUANT_F32 && v.ndim == 2 && v.rows == rows && v.cols == cols) {
        *q = keep_view(b, &v);
        return NULL;
    }
    return tens(b, rows, cols, 0, "%s", name);
}

/* The kt_linear_t panels of float32 w[out, in] (NULL in the listing and existence passes, or when
 * w is NULL), w's pages then given back: ALBERT's linears and the LSTMs' input matrices run on
 * the panels only. */
static const float *panels_of(binder *b, const float *w, int out, int in)
{
    if (!b->full || b->st || b->list || !w)
        return NULL;
    float *wt = own(b, kt_linear_t_size(out, in));
    if (!wt)
        return NULL;
    kt_linear_t_pack(b->m->ex, w, out, in, wt);
    done_with(b, w, (size_t)out * in);
    return wt;
}

static void lstm(binder *b, kt_lstm_w *w, const char *prefix, int in, int hidden)
{
    kt_lstm *l = &w->l;
    char n[300];
    l->in = in;
    l->hidden = hidden;
    for (int d = 0; d < 2; d++) {
        const char *sfx = d ? "_reverse" : "";
        snprintf(n, sizeof n, "%s.weight_ih_l0%s", prefix, sfx);
        l->wih[d] = matrix(b, &w->q[d][0], 4 * hidden, in, n);
        snprintf(n, sizeof n, "%s.weight_hh_l0%s", prefix, sfx);
        l->whh[d] = matrix(b, &w->q[d][1], 4 * hidden, hidden, n);
        const float *bi = tens(b, 4 * hidden, 0, 0, "%s.bias_ih_l0%s", prefix, sfx);
        const float *bh = tens(b, 4 * hidden, 0, 0, "%s.bias_hh_l0%s", prefix, sfx);
        float *sum = b->full ? own(b, 4 * (size_t)hidden) : NULL;
        if (sum && !b->st)
            for (int i = 0; i < 4 * hidden; i++)
                sum[i] = bi[i] + bh[i];
        l->b[d] = sum;
        l->wiht[d] = w->q[d][0] ? NULL : panels_of(b, l->wih[d], 4 * hidden, in);
        if (l->wiht[d])
            l->wih[d] = NULL;
    }
}

static void name2(char *buf, size_t cap, const char *prefix, const char *part)
{
    snprintf(buf, cap, "%s.%s", prefix, part);
}

static void adain_resblk(binder *b, kt_adain_resblk *r, const char *prefix, int din, int dout, int up, int sty)
{
    char n[256];
    r->din = din;
    r->dout = dout;
    r->up = up;
    name2(n, sizeof n, prefix, "norm1.fc");
    compact_lin(b, &r->norm1, 2 * din, sty, n);
    name2(n, sizeof n, prefix, "norm2.fc");
    compact_lin(b, &r->norm2, 2 * dout, sty, n);
    name2(n, sizeof n, prefix, "conv1");
    conv(b, &r->conv1, &r->pk1, n, din, dout, 3, 1, 1, 1, 1, 1);
    name2(n, sizeof n, prefix, "conv2");
    conv(b, &r->conv2, &r->pk2, n, dout, dout, 3, 1, 1, 1, 1, 1);
    if (din != dout) {
        name2(n, sizeof n, prefix, "conv1x1");
        conv(b, &r->sc, &r->pksc, n, din, dout, 1, 1, 0, 1, 1, 0);
    }
    if (up) {
        name2(n, sizeof n, prefix, "pool");
        r->pool = (kt_convt1d){wn(b, n, din, 1, 3), tens(b, din, 0, 0, "%s.bias", n), din, din, 3, 2, 1, 1};
    }
}

/* A resblock conv (ch -> ch, kernel k, dilation dil, same padding, weight norm, bias): by
 * Winograd (*wq, pk->codes NULL) when wino_wanted and its weight is float32, else direct. */
static void wino_conv(binder *b, kt_conv1d *c, kt_packed *pk, kt_wino *wq, const char *prefix, int ch, int k,
                      int dil)
{
    *wq = (kt_wino){NULL, 0, 0, 0};
    b->wino_out = wino_wanted(b, k, dil) ? wq : NULL;
    conv(b, c, pk, prefix, ch, ch, k, 1, dil * (k - 1) / 2, dil, 1, 1);
    if (b->wino_out && !wq->u) /* packed from a folded weight: transformed from the packing */
        wino_from_packed(b, c, pk);
    b->wino_out = NULL;
}

static void gen_resblk(binder *b, kt_gen_resblk *r, const char *prefix, int ch, int k, const int *dil, int nd,
                       int sty)
{
    char n[256];
    r->ch = ch;
    r->k = k;
    r->n = nd;
    for (int j = 0; j < nd; j++) {
        snprintf(n, sizeof n, "%s.convs1.%d", prefix, j);
        wino_conv(b, &r->convs1[j], &r->pk1[j], &r->wq1[j], n, ch, k, dil[j]);
        snprintf(n, sizeof n, "%s.convs2.%d", prefix, j);
        wino_conv(b, &r->convs2[j], &r->pk2[j], &r->wq2[j], n, ch, k, 1);
        snprintf(n, sizeof n, "%s.adain1.%d.fc", prefix, j);
        compact_lin(b, &r->adain1[j], 2 * ch, sty, n);
        snprintf(n, sizeof n, "%s.adain2.%d.fc", prefix, j);
        compact_lin(b, &r->adain2[j], 2 * ch, sty, n);
        r->alpha1[j] = tens(b, 1, ch, 1, "%s.alpha1.%d", prefix, j);
        r->alpha2[j] = tens(b, 1, ch, 1, "%s.alpha2.%d", prefix, j);
    }
}

static void bind_albert(binder *b)
{
    kt_model *m = b->m;
    kt_albert_w *w = &m->bert;
    const char *L = "bert.module.encoder.albert_layer_groups.0.albert_layers.0";
    char n[256];
    int E = m->bert_e, H = m->bert_h;
    w->word = tens(b, m->cfg.n_token, E, 0, "bert.module.embeddings.word_embeddings.weight");
    w->pos = tens(b, m->cfg.plbert.max_position_embeddings, E, 0, "bert.module.embeddings.position_embeddings.weight");
    w->type = tens(b, 2, E, 0, "bert.module.embeddings.token_type_embeddings.weight");
    w->ln_g = tens(b, E, 0, 0, "bert.module.embeddings.LayerNorm.weight");
    w->ln_b = tens(b, E, 0, 0, "bert.module.embeddings.LayerNorm.bias");
    compact_lin(b, &w->map_in, H, E, "bert.module.encoder.embedding_hidden_mapping_in");
    const char *parts[4] = {"attention.query", "attention.key", "attention.value", "attention.dense"};
    kt_linear *dst[4] = {&w->q, &w->k, &w->v, &w->dense};
    for (int i = 0; i < 4; i++) {
        snprintf(n, sizeof n, "%s.%s", L, parts[i]);
        compact_lin(b, dst[i], H, H, n);
    }
    snprintf(n, sizeof n, "%s.ffn", L);
    compact_lin(b, &w->ffn, m->inter, H, n);
    snprintf(n, sizeof n, "%s.ffn_output", L);
    compact_lin(b, &w->ffn_out, H, m->inter, n);
    w->attn_ln_g = tens(b, H, 0, 0, "%s.attention.LayerNorm.weight", L);
    w->attn_ln_b = tens(b, H, 0, 0, "%s.attention.LayerNorm.bias", L);
    w->full_ln_g = tens(b, H, 0, 0, "%s.full_layer_layer_norm.weight", L);
    w->full_ln_b = tens(b, H, 0, 0, "%s.full_layer_layer_norm.bias", L);
    const kt_linear *all[KT_ALBERT_LINEARS];
    kt_albert_linear_list(w, all);
    for (int i = 0; i < KT_ALBERT_LINEARS; i++)
        w->wt[i] = panels_of(b, all[i]->w, all[i]->out, all[i]->in);
}

static void bind_textenc(binder *b)
{
    kt_model *m = b->m;
    kt_textenc_w *w = &m->tenc;
    char n[256];
    int C = m->hid, k = m->cfg.text_encoder_kernel_size;
    w->emb = tens(b, m->cfg.n_token, C, 0, "text_encoder.module.embedding.weight");
    for (int l = 0; l < m->n_layer; l++) {
        snprintf(n, sizeof n, "text_encoder.module.cnn.%d.0", l);
        conv(b, &w->conv[l], &w->pk[l], n, C, C, k, 1, (k - 1) / 2, 1, 1, 1);
        w->gamma[l] = tens(b, C, 0, 0, "text_encoder.module.cnn.%d.1.gamma", l);
        w->beta[l] = tens(b, C, 0, 0, "text_encoder.module.cnn.%d.1.beta", l);
    }
    lstm(b, &w->lstm, "text_encoder.module.lstm", C, C / 2);
}

static void bind_predictor(binder *b)
{
    kt_model *m = b->m;
    kt_predictor_w *w = &m->pred;
    char n[256];
    int C = m->hid, S = m->sty, H2 = m->hid / 2;
    lin(b, &w->bert_enc, C, m->bert_h, 1, "bert_encoder.module");
    for (int l = 0; l < m->n_layer; l++) {
        snprintf(n, sizeof n, "predictor.module.text_encoder.lstms.%d", 2 * l);
        lstm(b, &w->dlstm[l], n, C + S, H2);
        snprintf(n, sizeof n, "predictor.module.text_encoder.lstms.%d.fc", 2 * l + 1);
        compact_lin(b, &w->daln[l], 2 * C, S, n);
    }
    lstm(b, &w->lstm, "predictor.module.lstm", C + S, H2);
    lin(b, &w->dur_proj, m->cfg.max_dur, C, 1, "predictor.module.duration_proj.linear_layer");
    lstm(b, &w->shared, "predictor.module.shared", C + S, H2);
    const char *br[2] = {"F0", "N"};
    kt_adain_resblk *blk[2] = {w->f0, w->n};
    kt_conv1d *proj[2] = {&w->f0_proj, &w->n_proj};
    kt_packed *pkp[2] = {&w->pk_f0_proj, &w->pk_n_proj};
    for (int i = 0; i < 2; i++) {
        snprintf(n, sizeof n, "predictor.module.%s.0", br[i]);
        adain_resblk(b, &blk[i][0], n, C, C, 0, S);
        snprintf(n, sizeof n, "predictor.module.%s.1", br[i]);
        adain_resblk(b, &blk[i][1], n, C, H2, 1, S);
        snprintf(n, sizeof n, "predictor.module.%s.2", br[i]);
        adain_resblk(b, &blk[i][2], n, H2, H2, 0, S);
        snprintf(n, sizeof n, "predictor.module.%s_proj", br[i]);
        conv(b, proj[i], pkp[i], n, H2, 1, 1, 1, 0, 1, 0, 1);
    }
}

static void bind_decoder(binder *b)
{
    kt_model *m = b->m;
    kt_decoder_w *w = &m->dec;
    char n[256];
    int S = m->sty, wide = m->dec_dim + 2 + m->asr_dim;
    conv(b, &w->f0_conv, &w->pk_f0_conv, "decoder.module.F0_conv", 1, 1, 3, 2, 1, 1, 1, 1);
    conv(b, &w->n_conv, &w->pk_n_conv, "decoder.module.N_conv", 1, 1, 3, 2, 1, 1, 1, 1);
    conv(b, &w->asr_res, &w->pk_asr, "decoder.module.asr_res.0", m->hid, m->asr_dim, 1, 1, 0, 1, 1, 1);
    adain_resblk(b, &w->encode, "decoder.module.encode", m->hid + 2, m->dec_dim, 0, S);
    for (int i = 0; i < 4; i++) {
        snprintf(n, sizeof n, "decoder.module.decode.%d", i);
        adain_resblk(b, &w->decode[i], n, wide, i < 3 ? m->dec_dim : m->uic, i == 3, S);
    }
}

/* 1 when the file stores prefix.weight (folded) as q8. */
static int stored_q8(binder *b, const char *prefix)
{
    char n[300];
    kt_qview v;
    kt_error e;
    snprintf(n, sizeof n, "%s.weight", prefix);
    return is_folded(b, prefix) && kt_qview_open(b->m->ckpt, n, &v, &e) == KT_OK && v.scheme == KT_QUANT_Q8;
}

/* A phase weight w[cout, cin, M] quantized again, one scale per output row (max |w| / 127), and
 * packed for the VNNI kernel into *pk. */
static void pack_phase_i8q(binder *b, const float *w, int cout, int cin, int M, kt_packed *pk)
{
    size_t K = (size_t)cin * M;
    int8_t *q = malloc((size_t)cout * K);
    float *s = malloc(sizeof(float) * (size_t)cout);
    uint32_t *wp = (uint32_t *)(void *)own(b, kt_conv_pack_i8q_words(cout, cin, M));
    float *sp = own(b, kt_conv_pack_scales(cout, cin, M, (int)K));
    int32_t *sums = (int32_t *)(void *)own(b, kt_conv_pack_i8q_sums(cout, cin));
    if (!q || !s) {
        if (!b->st)
            b->st = kt_error_set(b->err, KT_ENOMEM, "out of memory");
    } else if (wp && sp && sums) {
        i8q_job jb = {w, q, s, q, s, cout, cin, M, wp, sp, sums};
        kt_exec_run(b->m->ex, i8q_task, &jb);
        *pk = (kt_packed){KT_PACK_I8Q, wp, sp, (int)K, sums};
    }
    free(q);
    free(s);
}

typedef struct {
    const kt_convt1d *c;
    int p;
    float *w;
} phase_job;

static void phase_task(void *q, int tid, int n)
{
    const phase_job *j = q;
    kt_convt_phase_weight_rows(j->c, j->p, j->c->cout * tid / n, j->c->cout * (tid + 1) / n, j->w);
}

/* The ConvTranspose1d c at prefix as packed phase convs (kt/kernels.h); c->w is then NULL.
 * Stored as q8 and run where the CPU has VNNI, each phase is quantized again per output row
 * and runs on the integer kernel like the other q8 convs. */
static void ups_phases(binder *b, const char *prefix, kt_convt1d *c, kt_packed *ph)
{
    int M = b->full && !b->st ? kt_convt_phase_taps(c) : 0;
    if (!M || c->stride > KT_MAX_STRIDE || M > PACK_MAX_K)
        return;
    int i8q = !b->m->bf16 && kt_exec_vnni_conv(b->m->ex, M) && stored_q8(b, prefix);
    float *w = malloc(sizeof(float) * (size_t)c->cout * c->cin * M);
    if (!w) {
        b->st = kt_error_set(b->err, KT_ENOMEM, "out of memory");
        return;
    }
    for (int p = 0; p < c->stride && !b->st; p++) {
        phase_job jb = {c, p, w};
        kt_exec_run(b->m->ex, phase_task, &jb);
        if (b->m->bf16)
            pack_bf16_compute(b, w, c->cout, c->cin, M, &ph[p]);
        else if (i8q)
            pack_phase_i8q(b, w, c->cout, c->cin, M, &ph[p]);
        else {
            float *q = own(b, kt_conv_pack_size(c->cout, c->cin, M));
            if (q) {
                pack_f32(b, w, c->cout, c->cin, M, q, 0);
                ph[p] = (kt_packed){KT_PACK_F32, q, NULL, 0, NULL};
            }
        }
    }
    free(w);
    if (!b->st) {
        done_with(b, c->w, (size_t)c->cin * c->cout * c->k);
        c->w = NULL;
    }
}

/* The generator's weights: stages before the last into m->early, the rest into m->keep;
 * only_early: just the stages before the last (binding them again after release_early). */
static void bind_generator(binder *b, int only_early)
{
    kt_model *m = b->m;
    kt_generator_w *w = &m->gen;
    const kt_istftnet_config *ic = &m->cfg.istftnet;
    const char *G = "decoder.module.generator";
    const int nres[3] = {1, 3, 5};
    char n[256];
    int S = m->sty, nk = ic->n_resblock_kernels, nf = m->n_fft + 2;
    b->set = &m->keep;
    if (!only_early)
        lin(b, &w->l_linear, 1, KT_HARMONICS, 1, "decoder.module.generator.m_source.l_linear");
    for (int i = 0; i < m->n_ups - only_early; i++) {
        b->set = i + 1 < m->n_ups ? &m->early : &m->keep;
        int c = m->uic >> (i + 1), u = ic->upsample_rates[i], k = ic->upsample_kernel_sizes[i];
        snprintf(n, sizeof n, "%s.noise_convs.%d", G, i);
        if (i + 1 < m->n_ups) {
            int sf = 1;
            for (int j = i + 1; j < m->n_ups; j++)
                sf *= ic->upsample_rates[j];
            conv(b, &w->noise_convs[i], &w->pk_noise[i], n, nf, c, 2 * sf, sf, (sf + 1) / 2, 1, 0, 1);
        } else
            conv(b, &w->noise_convs[i], &w->pk_noise[i], n, nf, c, 1, 1, 0, 1, 0, 1);
        snprintf(n, sizeof n, "%s.noise_res.%d", G, i);
        gen_resblk(b, &w->noise_res[i], n, c, i + 1 < m->n_ups ? 7 : 11, nres, 3, S);
        snprintf(n, sizeof n, "%s.ups.%d", G, i);
        w->ups[i] = (kt_convt1d){wn(b, n, 2 * c, c, k), tens(b, c, 0, 0, "%s.bias", n), 2 * c, c, k, u, (k - u) / 2, 0};
        ups_phases(b, n, &w->ups[i], w->ups_ph[i]);
        for (int j = 0; j < nk; j++) {
            snprintf(n, sizeof n, "%s.resblocks.%d", G, i * nk + j);
            /* a resblock the low-memory schedule recomputes runs its second conv on blocks that
             * need not line up with FFT tiles: Winograd or direct */
            b->no_fft = kt_generator_lm_recomputed(nk, j);
            gen_resblk(b, &w->res[i * nk + j], n, c, ic->resblock_kernel_sizes[j], ic->resblock_dilation_sizes[j],
                       ic->n_dilations[j], S);
            b->no_fft = 0;
        }
    }
    b->set = &m->keep;
    if (only_early)
        return;
    snprintf(n, sizeof n, "%s.conv_post", G);
    conv(b, &w->conv_post, &w->pk_post, n, m->uic >> m->n_ups, nf, 7, 1, 3, 1, 1, 1);
}

/* The weights used before the generator (into b's set, m->pre). */
static void bind_pre(binder *b)
{
    bind_albert(b);
    bind_predictor(b);
    bind_decoder(b);
    bind_textenc(b);
}

/* Binds every weight (the generator's into m->early / m->keep, the rest into m->pre). */
static kt_status bind_all(kt_model *m, int full, kt_tensor_list *list, kt_error *err)
{
    file_spans borrowed = {0};
    binder b = {m, full, KT_OK, err, list, &m->pre, NULL, full ? &borrowed : NULL, 0};
    bind_pre(&b);
    bind_generator(&b, 0);
    m->pre_bound = m->early_bound = !b.st;
    if (!b.st)
        read_borrowed(m->ex, &borrowed);
    free(borrowed.s);
    return b.st;
}

/* Gives back the memory of the weights used before the generator (~180 MB of packed float32
 * for Kokoro) while a long chunk's generator holds its large buffers. */
static void release_pre(kt_model *m)
{
    if (!m->release_weights)
        return;
    owned_clear(&m->pre);
    m->pre_bound = 0;
}

kt_status kt_model_bind_released(kt_model *m, kt_error *err)
{
    file_spans borrowed = {0};
    kt_status st = KT_OK;
    if (!m->pre_bound) {
        binder b = {m, 1, KT_OK, err, NULL, &m->pre, NULL, &borrowed, 0};
        owned_clear(&m->pre);
        bind_pre(&b);
        if ((st = b.st))
            goto done;
        m->pre_bound = 1;
    }
    if (!m->early_bound) {
        binder g = {m, 1, KT_OK, err, NULL, &m->early, NULL, &borrowed, 0};
        owned_clear(&m->early);
        bind_generator(&g, 1);
        if ((st = g.st))
            goto done;
        m->early_bound = 1;
    }
    read_borrowed(m->ex, &borrowed);
done:
    free(borrowed.s);
    return st;
}

void kt_model_release_early(kt_model *m)
{
    if (!m->release_weights)
        return;
    owned_clear(&m->early);
    m->early_bound = 0;
}

/* ---- config --------------------------------------------------------------------- */

static kt_status copy_config(kt_config *dst, const kt_config *src, kt_error *err)
{
    *dst = *src;
    dst->vocab = NULL;
    if (src->vocab_count) {
        dst->vocab = malloc(src->vocab_count * sizeof *dst->vocab);
        if (!dst->vocab)
            return kt_error_set(err, KT_ENOMEM, "out of memory");
        memcpy(dst->vocab, src->vocab, src->vocab_count * sizeof *dst->vocab);
    }
    return KT_OK;
}

static kt_status derive_dims(kt_model *m, kt_error *err)
{
    const kt_config *c = &m->cfg;
    const kt_istftnet_config *ic = &c->istftnet;
    m->hid = c->hidden_dim;
    m->sty = c->style_dim;
    m->n_layer = c->n_layer;
    m->bert_h = c->plbert.hidden_size;
    m->bert_e = c->plbert.embedding_size;
    m->heads = c->plbert.num_attention_heads;
    m->inter = c->plbert.intermediate_size;
    m->dec_dim = c->decoder_dim;
    m->asr_dim = c->decoder_asr_res_dim;
    m->uic = ic->upsample_initial_channel;
    m->n_ups = ic->n_upsamples;
    m->n_fft = ic->gen_istft_n_fft;
    m->hop = ic->gen_istft_hop_size;
    m->up_total = m->hop;
    if (m->hid < 2 || m->hid % 2 || m->sty < 1 || m->n_layer < 1 || m->n_layer > KT_MAX_LAYERS)
        return kt_error_set(err, KT_EUNSUPPORTED, "unsupported config: hidden_dim/style_dim/n_layer");
    if (m->heads < 1 || m->bert_h % m->heads || m->bert_e < 1 || m->inter < 1 || c->plbert.num_hidden_layers < 1 ||
        c->plbert.max_position_embeddings < 3)
        return kt_error_set(err, KT_EUNSUPPORTED, "unsupported config: plbert dimensions");
    if (c->n_token < 2 || c->max_dur < 1 || c->text_encoder_kernel_size < 1 || c->text_encoder_kernel_size % 2 == 0 ||
        m->dec_dim < 1 || m->asr_dim < 1)
        return kt_error_set(err, KT_EUNSUPPORTED, "unsupported config: n_token/max_dur/kernel/decoder dims");
    if (m->n_ups < 1 || m->n_ups > KT_MAX_UPS || m->uic % (1 << m->n_ups) || m->n_fft < 2 || m->n_fft % 2 ||
        m->n_fft > 64 || m->hop < 1 || ic->n_resblock_kernels < 1 || ic->n_resblock_kernels > KT_MAX_DIL)
        return kt_error_set(err, KT_EUNSUPPORTED, "unsupported config: istftnet dimensions");
    for (int i = 0; i < m->n_ups; i++) {
        if (ic->upsample_rates[i] < 1 || ic->upsample_kernel_sizes[i] < ic->upsample_rates[i])
            return kt_error_set(err, KT_EUNSUPPORTED, "unsupported config: upsample rate/kernel %d", i);
        m->up_total *= ic->upsample_rates[i];
    }
    for (int j = 0; j < ic->n_resblock_kernels; j++)
        if (ic->n_dilations[j] < 1 || ic->n_dilations[j] > KT_MAX_DIL || ic->resblock_kernel_sizes[j] % 2 == 0)
            return kt_error_set(err, KT_EUNSUPPORTED, "unsupported config: resblock %d", j);
    return KT_OK;
}

/* ---- work buffers ---------------------------------------------------------------- */

static size_t max3(size_t a, size_t b, size_t c)
{
    size_t m = a > b ? a : b;
    return m > c ? m : c;
}

/* A work buffer of n floats (the text side's, then the frame side's). One of up to WORK_KEEP
 * floats stays with m for the next call (a fresh mapping has all its pages zeroed by the kernel
 * on every call: ~32 MB, 3-4% of a 1.7 s chunk's time); larger ones (long chunks) are freed by
 * work_give. Each kt_synth_state's view of the model keeps its own. */
#define WORK_KEEP ((size_t)16 << 20) /* 64 MB */

static float *work_take(kt_model *m, size_t n)
{
    if (m->work && m->work_cap >= n)
        return m->work;
    free(m->work);
    m->work = NULL;
    m->work_cap = 0;
    float *b = big_alloc(n);
    if (b && n <= WORK_KEEP) {
        m->work = b;
        m->work_cap = n;
    }
    return b;
}

static void work_give(kt_model *m, float *b)
{
    if (b != m->work)
        free(b);
}

/* Floats of the frame side's work buffer for F frames. */
static size_t frame_cap(const kt_model *m, int F)
{
    int W = m->hid + m->sty, spf = kt_kokoro_samples_per_frame(m), M = kt_kokoro_stft_frames(m, F);
    size_t fixed = kt_arena_round((size_t)W * F) + 2 * kt_arena_round(2 * (size_t)F) +
                   kt_arena_round((size_t)m->hid * F) + kt_arena_round((size_t)m->uic * 2 * F) +
                   kt_arena_round((size_t)spf * F) + kt_arena_round((size_t)(m->n_fft + 2) * M);
    return fixed + max3(kt_f0n_need(m, F), kt_decoder_need(m, F), kt_generator_need(m, F));
}

#define TOUCH_STRIDE 4096 /* bytes: the smallest page size */

static void touch_pages(void *ctx, size_t i0, size_t i1)
{
    const byte_span *j = ctx;
    for (size_t i = i0; i < i1 && i * TOUCH_STRIDE < j->bytes; i++)
        j->p[i * TOUCH_STRIDE] = 0;
}

/* Makes the kept work buffer for a synthesis of m->work_frames frames (at most WORK_KEEP floats)
 * and writes one byte of each of its pages on the pool's threads, so that the kernel's page faults
 * (and on transparent huge pages its zeroing and compaction) happen now and not in the first
 * synthesis. Out of memory is not an error here: the synthesis tries again. */
static void work_reserve(kt_model *m)
{
    if (m->work_frames <= 0)
        return;
    size_t n = frame_cap(m, m->work_frames < MAX_FRAMES ? m->work_frames : MAX_FRAMES);
    float *b = work_take(m, n < WORK_KEEP ? n : WORK_KEEP); /* kept: at most WORK_KEEP */
    if (!b)
        return;
    byte_span j = {(char *)b, sizeof(float) * m->work_cap};
    kt_exec_range(m->ex, (j.bytes + TOUCH_STRIDE - 1) / TOUCH_STRIDE, TOUCH_STRIDE, (size_t)1 << 20, touch_pages, &j);
}

size_t kt_model_work_floats(const kt_model *m) { return m->work ? m->work_cap : 0; }

size_t kt_model_work_resident(const kt_model *m)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (!m->work || pg <= 0)
        return 0;
    uintptr_t lo = (uintptr_t)m->work / (uintptr_t)pg * (uintptr_t)pg;
    uintptr_t hi = (uintptr_t)m->work + sizeof(float) * m->work_cap;
    size_t pages = (hi - lo + (uintptr_t)pg - 1) / (uintptr_t)pg, resident = 0;
    unsigned char *vec = malloc(pages);
    if (!vec || mincore((void *)lo, hi - lo, vec)) {
        free(vec);
        return 0;
    }
    for (size_t i = 0; i < pages; i++)
        resident += vec[i] & 1;
    free(vec);
    return resident * (size_t)pg;
}

/* ---- public API ----------------------------------------------------------------- */

kt_model_params kt_model_default_params(void)
{
    kt_model_params p = {0};
    p.max_isa = KT_ISA_AVX512;
    p.release_weights = 1;
    p.blas_serial = 1;
    p.winograd = KT_WINOGRAD_DEFAULT;
    p.fft = 1;
    return p;
}

kt_synth_params kt_synth_default_params(void)
{
    kt_synth_params p = {1.0f, 0, 0};
    return p;
}

void kt_model_free(kt_model *m)
{
    if (!m)
        return;
    free(m->work);
    owned_free(&m->keep);
    owned_free(&m->early);
    owned_free(&m->pre);
    kt_exec_free(m->ex);
    kt_checkpoint_free(m->ckpt);
    kt_config_free(&m->cfg);
    free(m);
}

/* Stage buffer size (floats) above which the generator runs its low-memory schedule:
 * env KT_GEN_LOWMEM when set, else KT_GEN_LOWMEM_DEFAULT, lowered for compact files to
 * a KT_GEN_LOWMEM_SHARE-th of the file's bytes (q8 Kokoro: ~5 Mi floats, ~8 s of audio;
 * q4: ~3 Mi floats), not below KT_GEN_LOWMEM_FLOOR. */
static size_t lowmem_threshold(const kt_checkpoint *c, size_t param)
{
    const char *lm = getenv("KT_GEN_LOWMEM");
    if (lm && *lm)
        return (size_t)strtoull(lm, NULL, 10);
    if (param)
        return param;
    uint64_t share = kt_checkpoint_file_size(c) / KT_GEN_LOWMEM_SHARE / sizeof(float);
    if (share < KT_GEN_LOWMEM_FLOOR)
        share = KT_GEN_LOWMEM_FLOOR;
    return share < KT_GEN_LOWMEM_DEFAULT ? (size_t)share : KT_GEN_LOWMEM_DEFAULT;
}

/* The index in names[0 .. n) of env variable var's value, or def when it is unset or none of them. */
static int env_choice(const char *var, const char *const *names, int n, int def)
{
    const char *e = getenv(var);
    for (int i = 0; e && i < n; i++)
        if (!strcmp(e, names[i]))
            return i;
    return def;
}

/* kt_model_params.winograd, or env KT_WINOGRAD=on|bf16|off when set. */
static int winograd_on(int param)
{
    static const char *const names[] = {"off", "on", "bf16"}; /* 0, 1, KT_WINOGRAD_BF16 */
    return env_choice("KT_WINOGRAD", names, 3, param == KT_WINOGRAD_BF16 ? param : param != 0);
}

/* kt_model_params.fft, or env KT_FFT=on|off when set. */
static int fft_on(int param)
{
    static const char *const names[] = {"off", "on"};
    return env_choice("KT_FFT", names, 2, param != 0);
}

kt_status kt_model_load(const char *weights_path, const kt_config *cfg, const kt_model_params *p,
                        kt_model **out, kt_error *err)
{
    kt_model *m = calloc(1, sizeof *m);
    kt_config def = {0};
    kt_status st;
    *out = NULL;
    if (!m)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    kt_model_params dp = kt_model_default_params();
    if (!p)
        p = &dp;
    m->n_threads = p->n_threads;
    m->release_weights = p->release_weights;
    m->blas_serial = p->blas_serial;
    if (!cfg && (st = kt_config_default(&def, err)))
        goto fail;
    if ((st = copy_config(&m->cfg, cfg ? cfg : &def, err)) || (st = derive_dims(m, err)))
        goto fail;
    kt_config_free(&def);
    if ((st = kt_checkpoint_open(weights_path, &m->ckpt, err)))
        goto fail;
    if ((st = kt_exec_create_isa(m->n_threads, p->max_isa, &m->ex, err)))
        goto fail;
    m->gen_lowmem = lowmem_threshold(m->ckpt, p->gen_lowmem);
    m->bf16 = p->bf16 && kt_exec_has_bf16(m->ex);
    m->winograd = winograd_on(p->winograd);
    m->fft = fft_on(p->fft);
    if ((st = bind_all(m, 0, NULL, err)) || (st = bind_all(m, 1, NULL, err)))
        goto fail;
    m->work_frames = p->work_frames;
    if (m->release_weights)
        work_reserve(m);
    *out = m;
    return KT_OK;
fail:
    kt_config_free(&def);
    kt_model_free(m);
    return st;
}

kt_status kt_kokoro_expected_tensors(const kt_config *cfg, kt_tensor_list *out, kt_error *err)
{
    kt_model *m = calloc(1, sizeof *m);
    kt_status st;
    if (!m)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    if (!(st = copy_config(&m->cfg, cfg, err)) && !(st = derive_dims(m, err)))
        st = bind_all(m, 0, out, err);
    kt_model_free(m);
    return st;
}

const kt_config *kt_model_config(const kt_model *m) { return &m->cfg; }

int kt_model_style_size(const kt_model *m) { return 2 * m->sty; }

int kt_model_max_ids(const kt_model *m) { return m->cfg.plbert.max_position_embeddings - 2; }

void kt_synth_result_free(kt_synth_result *r)
{
    if (!r)
        return;
    free(r->audio);
    free(r->durations);
    memset(r, 0, sizeof *r);
}

/* ---- synthesis ------------------------------------------------------------------ */

static kt_status check_input(const kt_model *m, const int *ids, int n_ids, const float *style,
                             const kt_synth_params *p, kt_error *err)
{
    if (n_ids < 1 || !ids)
        return kt_error_set(err, KT_EINVAL, "empty input: no phonemes to synthesize");
    if (n_ids > kt_model_max_ids(m))
        return kt_error_set(err, KT_ELIMIT, "input too long: %d phoneme ids (at most %d per call)", n_ids,
                            kt_model_max_ids(m));
    for (int i = 0; i < n_ids; i++)
        if (ids[i] < 1 || ids[i] >= m->cfg.n_token)
            return kt_error_set(err, KT_EINVAL, "phoneme id %d at position %d is outside the vocabulary (1..%d)",
                                ids[i], i, m->cfg.n_token - 1);
    if (!style)
        return kt_error_set(err, KT_EINVAL, "no style vector");
    for (int i = 0; i < 2 * m->sty; i++)
        if (!isfinite(style[i]))
            return kt_error_set(err, KT_EINVAL, "style vector value %d is not a finite number", i);
    if (!(p->speed >= KT_SPEED_MIN && p->speed <= KT_SPEED_MAX))
        return kt_error_set(err, KT_EINVAL, "speed must be a number in %g..%g", (double)KT_SPEED_MIN,
                            (double)KT_SPEED_MAX);
    return KT_OK;
}

/* Text side: ids -> d [T, hid+sty], t_en [hid, T], pred_dur [T]. Its work buffer is the frame
 * side's (work_take), free until the frame side runs. */
static kt_status text_side(kt_model *m, const int *ids, int T, const float *s_pred, float speed, float *d,
                           float *t_en, int *pred, kt_error *err)
{
    size_t cap = kt_arena_round((size_t)T * m->bert_h) + kt_arena_round((size_t)T) +
                 max3(kt_albert_need(m, T), kt_textenc_need(m, T), kt_duration_need(m, T));
    float *buf = work_take(m, cap);
    kt_arena a;
    kt_status st;
    if (!buf)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    kt_arena_init(&a, buf, cap);
    a.ex = m->ex;
    float *bert = kt_arena_take(&a, (size_t)T * m->bert_h), *dur = kt_arena_take(&a, (size_t)T);
    if (!bert || !dur)
        st = kt_error_set(err, KT_ELIMIT, "internal: work buffer too small (text)");
    else if (!(st = kt_albert_run(m, ids, T, bert, &a, err)) &&
        !(st = kt_duration_run(m, bert, T, s_pred, speed, d, dur, pred, &a, err)))
        st = kt_textenc_run(m, ids, T, t_en, &a, err);
    work_give(m, buf);
    return st;
}

/* Frame side: en, asr -> audio. */
static kt_status frame_side(kt_model *m, const float *d, const float *t_en, const int *pred, int T, int F,
                            const float *style, uint32_t seed, float *audio, kt_error *err)
{
    int W = m->hid + m->sty, spf = kt_kokoro_samples_per_frame(m), M = kt_kokoro_stft_frames(m, F);
    size_t cap = frame_cap(m, F);
    float *buf = work_take(m, cap);
    kt_arena a;
    kt_status st;
    if (!buf)
        return kt_error_set(err, KT_ENOMEM, "out of memory (%d frames)", F);
    kt_arena_init(&a, buf, cap);
    a.ex = m->ex;
    float *en = kt_arena_take(&a, (size_t)W * F), *f0 = kt_arena_take(&a, 2 * (size_t)F);
    float *nn = kt_arena_take(&a, 2 * (size_t)F), *asr = kt_arena_take(&a, (size_t)m->hid * F);
    float *x = kt_arena_take(&a, (size_t)m->uic * 2 * F), *src = kt_arena_take(&a, (size_t)spf * F);
    float *har = kt_arena_take(&a, (size_t)(m->n_fft + 2) * M);
    if (!en || !f0 || !nn || !asr || !x || !src || !har) {
        work_give(m, buf);
        return kt_error_set(err, KT_ELIMIT, "internal: work buffer too small (frames)");
    }
    for (int t = 0, f = 0; t < T; t++) /* alignment as a gather: frame f belongs to token t */
        for (int r = 0; r < pred[t]; r++, f++) {
            for (int c = 0; c < W; c++)
                en[(size_t)c * F + f] = d[(size_t)t * W + c];
            for (int c = 0; c < m->hid; c++)
                asr[(size_t)c * F + f] = t_en[(size_t)c * T + t];
        }
    if (!(st = kt_f0n_run(m, en, F, style + m->sty, f0, nn, &a, err)) &&
        !(st = kt_decoder_run(m, asr, f0, nn, F, style, x, &a, err))) {
        int lm = kt_generator_lowmem(m, F);
        if (lm && m->release_weights) { /* long chunk: the weights used so far (bound again by the next call) */
            release_pre(m);
            kt_checkpoint_release_all(m->ckpt);
        }
        kt_source_run(m, f0, F, seed, src);
        kt_stft_run(m, src, spf * F, har);
        if (lm) { /* and the pages of the buffers no longer read */
            kt_drop_pages(en, sizeof(float) * (size_t)W * F);
            kt_drop_pages(asr, sizeof(float) * (size_t)m->hid * F);
            kt_drop_pages(src, sizeof(float) * (size_t)spf * F);
        }
        st = kt_generator_run(m, x, F, style, har, lm, audio, &a, err);
    }
    work_give(m, buf);
    return st;
}

kt_status kt_model_synthesize(kt_model *m, const int *ids, int n_ids, const float *style,
                              const kt_synth_params *p, kt_synth_result *out, kt_error *err)
{
    kt_synth_params dp = kt_synth_default_params();
    kt_status st;
    int T = n_ids + 2, *tok = NULL;
    float *d = NULL, *t_en = NULL;
    memset(out, 0, sizeof *out);
    if (!p)
        p = &dp;
    if ((st = check_input(m, ids, n_ids, style, p, err)))
        return st;
    if (m->blas_serial)
        kt_blas_serial(); /* kt_sgemm threads the products itself: same bytes at any --threads */
    if ((st = kt_model_bind_released(m, err)))
        return st;
    tok = malloc(sizeof(int) * (size_t)T);
    out->durations = malloc(sizeof(int) * (size_t)T);
    d = malloc(sizeof(float) * (size_t)T * (m->hid + m->sty));
    t_en = malloc(sizeof(float) * (size_t)T * m->hid);
    if (!tok || !out->durations || !d || !t_en) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto fail;
    }
    tok[0] = tok[T - 1] = 0;
    memcpy(tok + 1, ids, sizeof(int) * (size_t)n_ids);
    if ((st = text_side(m, tok, T, style + m->sty, p->speed, d, t_en, out->durations, err)))
        goto fail;
    long F = 0;
    for (int t = 0; t < T; t++)
        F += out->durations[t];
    out->n_tokens = T;
    if (p->max_samples > 0 && (size_t)F * kt_kokoro_samples_per_frame(m) > p->max_samples)
        goto done; /* longer than the caller takes: the durations only */
    if (F > MAX_FRAMES) {
        st = kt_error_set(err, KT_ELIMIT, "utterance too long: %ld frames (at most %d per call)", F, MAX_FRAMES);
        goto fail;
    }
    if (m->release_weights && kt_generator_lowmem(m, (int)F)) /* long chunk: the text side's file pages */
        kt_checkpoint_release_all(m->ckpt);
    out->n_samples = (size_t)F * kt_kokoro_samples_per_frame(m);
    out->audio = malloc(sizeof(float) * out->n_samples);
    if (!out->audio) {
        st = kt_error_set(err, KT_ENOMEM, "out of memory");
        goto fail;
    }
    if ((st = frame_side(m, d, t_en, out->durations, T, (int)F, style, p->seed, out->audio, err)))
        goto fail;
done:
    free(tok);
    free(d);
    free(t_en);
    return KT_OK;
fail:
    free(tok);
    free(d);
    free(t_en);
    kt_synth_result_free(out);
    return st;
}

/* ---- per-caller state ----------------------------------------------------------- */

/* A copy of the model's descriptor (dimensions, weight pointers) with its own thread pool;
 * the weights stay the model's and are only read. */
struct kt_synth_state {
    kt_model view;
};

kt_status kt_synth_state_create(const kt_model *m, kt_synth_state **out, kt_error *err)
{
    *out = NULL;
    if (m->release_weights)
        return kt_error_set(err, KT_EINVAL, "the model frees weights while it synthesizes (release_weights): "
                                            "it serves one caller only");
    kt_synth_state *s = malloc(sizeof *s);
    if (!s)
        return kt_error_set(err, KT_ENOMEM, "out of memory");
    s->view = *m;
    s->view.work = NULL; /* its own work buffer */
    s->view.work_cap = 0;
    kt_status st = kt_exec_create_isa(m->n_threads, kt_exec_isa(m->ex), &s->view.ex, err);
    if (st) {
        free(s);
        return st;
    }
    *out = s;
    return KT_OK;
}

void kt_synth_state_free(kt_synth_state *s)
{
    if (!s)
        return;
    kt_exec_free(s->view.ex);
    free(s->view.work);
    free(s);
}

int kt_model_threads(const kt_model *m) { return kt_exec_capacity(m->ex); }

size_t kt_synth_state_work_floats(const kt_synth_state *s) { return kt_model_work_floats(&s->view); }

void kt_synth_state_set_threads(kt_synth_state *s, int n) { kt_exec_set_threads(s->view.ex, n); }

void kt_synth_state_set_crowded(kt_synth_state *s, const _Atomic int *flag) { kt_exec_set_crowded(s->view.ex, flag); }

kt_status kt_synth_state_run(kt_synth_state *s, const int *ids, int n_ids, const float *style,
                             const kt_synth_params *p, kt_synth_result *out, kt_error *err)
{
    return kt_model_synthesize(&s->view, ids, n_ids, style, p, out, err);
}
