/* en_word.h - internals shared by the English word and text code. */
#ifndef KT_EN_WORD_H
#define KT_EN_WORD_H

#include <stdint.h>

#include "en_impl.h"

/* What follows a word: future_vowel -1 unknown (end or punctuation), 0 consonant, 1 vowel;
 * future_to: the next word is "to". */
typedef struct {
    int future_vowel;
    int future_to;
} en_ctx;

/* One token of text as the word code sees it. */
typedef struct {
    char *text;
    const char *tag;  /* part of speech (Penn tags), or NULL */
    char *ps;         /* phonemes once known */
    int stress;       /* EN_NO_STRESS or a level */
    char currency;    /* '$', 'L' (pound), 'E' (euro) or 0 */
    int is_head;      /* first piece of a glued group */
    int prespace;     /* a space goes before it when its group is joined */
    int ws;           /* whitespace follows */
    int punct;        /* a punctuation token (ps fixed) */
} en_tok;

int en_is_vowel(uint32_t c);
int en_is_consonant(uint32_t c);
char *en_stress(char *ps, int s);
char *en_lookup(const kt_en_lexicon *L, const char *w, size_t n, const char *tag, int stress, const en_ctx *ctx);
char *en_suffix_s(char *stem, int british);
char *en_suffix_ed(char *stem, int british);
char *en_suffix_ing(char *stem, int british);
char *en_word_token(const kt_en_lexicon *L, const en_tok *t, const en_ctx *ctx);
char *en_word_plain(const kt_en_lexicon *L, const char *w);
char *en_dupn(const char *s, size_t n);
/* ɾ -> T and ʔ -> t, as Kokoro's vocabulary spells them (in place). */
void en_final_map(char *s);

int en_is_number(const char *w, size_t n, int is_head);
char *en_number(const kt_en_lexicon *L, const char *w, size_t n, char currency, int is_head);

#endif
