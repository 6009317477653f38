/* stubs_pending.c - TEMPORARY: readers still being written. Each is replaced by its own file. */
#include "kt/formats.h"

kt_status kt_npy_read(const unsigned char *d, uint64_t n, kt_read_result *o, kt_error *e)
{ (void)d; (void)n; (void)o; return kt_error_set(e, KT_EUNSUPPORTED, "npy reader pending"); }
kt_status kt_npz_read(const unsigned char *d, uint64_t n, kt_read_result *o, kt_error *e)
{ (void)d; (void)n; (void)o; return kt_error_set(e, KT_EUNSUPPORTED, "npz reader pending"); }
kt_status kt_voicebin_read(const unsigned char *d, uint64_t n, kt_read_result *o, kt_error *e)
{ (void)d; (void)n; (void)o; return kt_error_set(e, KT_EUNSUPPORTED, "voicebin reader pending"); }
