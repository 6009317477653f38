/* kt/g2p_lang.h - the language a voice specification speaks.
 *
 * Kokoro's voice names start with their language's letter (a: en-us, b: en-gb,
 * e: es, f: fr, h: hi, i: it, j: ja, p: pt-br, z: zh). A specification may name
 * the voice in several ways, and each is read down to that name:
 *   "zf_xiaobei", "voices/zf_xiaobei.pt"          a name or a file
 *   "voices-v1.0.bin:zf_xiaobei"                  a member of an npz or voices.bin bundle
 *   "kokoro-q8.safetensors:voices.zf_xiaobei"     a voice embedded in a converted model
 *   "af_heart:0.6 af_bella:0.4", "af_bella+af_sky" a blend (kt/voice.h's expressions) */
#ifndef KT_G2P_LANG_H
#define KT_G2P_LANG_H

#include <stddef.h>

#include "kt/error.h"

/* The voice name a blend term's source stands for: the member after a bundle's ':' or
 * the file name after the last '/', without a "voices." prefix or a file extension.
 * Writes at most n - 1 bytes and a NUL into name. */
void kt_g2p_voice_name(const char *source, char *name, size_t n);

/* Sets *lang to the kt language code (static string) of spec, or NULL when no term
 * tells it (a custom file name, a raw bundle index). Error (KT_EINVAL): its voices
 * speak different languages (the message names two of them and asks for --lang).
 * A spec that is not a blend expression (a model's embedded voice
 * "MODEL:voices.NAME") is read as one source. */
kt_status kt_g2p_lang_for_spec(const char *spec, const char **lang, kt_error *err);

#endif
