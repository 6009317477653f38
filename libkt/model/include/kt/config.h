/* kt/config.h - Kokoro's config.json as a plain struct.
 *
 * Every dimension the model code uses comes from here (so a tiny test model
 * with small dimensions runs through the same code as the real one). */
#ifndef KT_CONFIG_H
#define KT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "kt/error.h"

#define KT_CONFIG_MAX_LIST 8

typedef struct {
    int hidden_size;             /* 768 */
    int num_attention_heads;     /* 12 */
    int intermediate_size;       /* 2048 */
    int max_position_embeddings; /* 512 */
    int num_hidden_layers;       /* 12 (one shared layer applied this many times) */
    double dropout;
    int embedding_size;          /* 128: ALBERT's default, absent from Kokoro's config; optional key */
} kt_plbert_config;

typedef struct {
    int upsample_rates[KT_CONFIG_MAX_LIST];        /* [10, 6] */
    int upsample_kernel_sizes[KT_CONFIG_MAX_LIST]; /* [20, 12] */
    int n_upsamples;
    int upsample_initial_channel;                  /* 512 */
    int resblock_kernel_sizes[KT_CONFIG_MAX_LIST]; /* [3, 7, 11] */
    int n_resblock_kernels;
    int resblock_dilation_sizes[KT_CONFIG_MAX_LIST][KT_CONFIG_MAX_LIST]; /* [[1,3,5] x3] */
    int n_dilations[KT_CONFIG_MAX_LIST];
    int gen_istft_n_fft;    /* 20 */
    int gen_istft_hop_size; /* 5 */
} kt_istftnet_config;

typedef struct {
    uint32_t codepoint; /* the phoneme symbol (one Unicode code point) */
    int id;             /* 1..n_token-1 */
} kt_vocab_entry;

typedef struct {
    int n_token;     /* 178 */
    int hidden_dim;  /* 512 */
    int style_dim;   /* 128 */
    int n_layer;     /* 3 */
    int max_dur;     /* 50 */
    int dim_in;      /* 64 */
    int max_conv_dim;
    int n_mels;      /* 80 */
    int text_encoder_kernel_size; /* 5 */
    int multispeaker;
    double dropout;
    /* Dimensions upstream hard-codes; optional keys so a tiny test model can shrink them. */
    int decoder_dim;         /* "decoder_dim", default 1024: Decoder encode/decode channels */
    int decoder_asr_res_dim; /* "decoder_asr_res_dim", default 64: Decoder asr_res channels */
    kt_plbert_config plbert;
    kt_istftnet_config istftnet;
    kt_vocab_entry *vocab; /* owned, sorted by codepoint */
    size_t vocab_count;
} kt_config;

/* Reads and parses a config.json file. Missing or mistyped required keys are errors naming the key. */
kt_status kt_config_load(const char *path, kt_config *out, kt_error *err);

/* Parses config JSON text of len bytes (need not be NUL-terminated). */
kt_status kt_config_parse(const char *json, size_t len, kt_config *out, kt_error *err);

/* The real Kokoro v1.0 configuration (used when no config.json is given). */
kt_status kt_config_default(kt_config *out, kt_error *err);

/* Frees what the config owns; safe on a zeroed struct. */
void kt_config_free(kt_config *c);

/* The vocab id of a code point, or -1 when the symbol is not in the vocab. */
int kt_config_vocab_id(const kt_config *c, uint32_t codepoint);

#endif
