/* g2p_lang.c - the language of a voice specification (file, bundle member, embedded voice, blend). */
#include <string.h>

#include "kt/g2p.h"
#include "kt/g2p_lang.h"
#include "kt/voice.h"

void kt_g2p_voice_name(const char *source, char *name, size_t n)
{
    static const char *const exts[] = {".pt", ".pth", ".safetensors", ".npy", ".npz", ".bin"};
    const char *p = source, *q;
    size_t len;
    if (n == 0)
        return;
    if ((q = strrchr(p, ':')) != NULL && q[1])
        p = q + 1;
    if ((q = strrchr(p, '/')) != NULL)
        p = q + 1;
    len = strlen(p);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t m = strlen(exts[i]);
        if (len > m && !strcmp(p + len - m, exts[i])) {
            len -= m;
            break;
        }
    }
    if (len > 7 && !strncmp(p, "voices.", 7)) {
        p += 7;
        len -= 7;
    }
    if (len >= n)
        len = n - 1;
    memcpy(name, p, len);
    name[len] = '\0';
}

kt_status kt_g2p_lang_for_spec(const char *spec, const char **lang, kt_error *err)
{
    kt_blend_expr ex = {0};
    const char *args[1] = {spec};
    char first[128] = "", name[128];
    kt_status st = kt_blend_parse(args, 1, &ex, err);
    *lang = NULL;
    if (st) { /* not an expression (a model's embedded voice "MODEL:voices.NAME"): one source */
        kt_g2p_voice_name(spec, name, sizeof name);
        *lang = kt_g2p_lang_for_voice(name);
        st = KT_OK;
        goto done;
    }
    for (size_t i = 0; i < ex.count; i++) {
        kt_g2p_voice_name(ex.terms[i].source, name, sizeof name);
        const char *l = kt_g2p_lang_for_voice(name);
        if (!l)
            continue;
        if (*lang && strcmp(*lang, l)) {
            st = kt_error_set(err, KT_EINVAL, "the voices speak different languages (%s: %s, %s: %s); give --lang",
                              first, *lang, name, l);
            *lang = NULL;
            goto done;
        }
        if (!*lang) {
            *lang = l;
            memcpy(first, name, sizeof first);
        }
    }
done:
    kt_blend_expr_free(&ex);
    return st;
}

