/* g2p_lines - libkt's G2P, one input line at a time, for the check_g2p_*.py scripts.
 *
 *   g2p_lines LANG          each stdin line -> kt_g2p_phonemize(line, LANG) on one stdout line
 *   g2p_lines zh-marked     each stdin line -> kt_g2p_zh(line, marked) ('|' after each syllable)
 *
 * Phonemes before the vocabulary filter (no config). A line that fails prints
 * "<error MESSAGE>". Each answer is flushed, so a caller can talk to it line by line. The
 * library's internal G2P functions are hidden in libkt.so; this program links libkt.a. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt/g2p.h"
#include "kt/g2p_zh.h"

static void answer(kt_status st, char *out, const kt_error *err)
{
    if (st) {
        printf("<error %s>\n", err->msg);
    } else {
        for (char *p = out; *p; p++) /* one answer, one line */
            if (*p == '\n')
                *p = ' ';
        printf("%s\n", out);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: g2p_lines LANG|zh-marked < lines\n");
        return 2;
    }
    int marked = !strcmp(argv[1], "zh-marked");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            line[n - 1] = '\0';
        char *out = NULL, *dropped = NULL;
        kt_error err = {0};
        kt_status st = marked ? kt_g2p_zh(line, 1, &out, &dropped, &err)
                              : kt_g2p_phonemize(line, argv[1], NULL, &out, &dropped, &err);
        answer(st, out, &err);
        free(out);
        free(dropped);
    }
    free(line);
    return 0;
}
