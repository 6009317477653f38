/* example.c - text to a WAV file with libkt.
 *
 *   cc example.c $(pkg-config --cflags --libs kt) -o example
 *   ./example kokoro-v1_0.pth config.json voices/af_heart.pt "Hello from kt." hello.wav
 */
#include <stdio.h>

#include <kt/kt.h>

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: example MODEL CONFIG VOICE TEXT OUT.wav\n");
        return 2;
    }
    kt_tts_params p = kt_tts_default_params();
    p.model_path = argv[1];
    p.config_path = argv[2];
    kt_tts *tts = NULL;
    kt_error err;
    kt_status st = kt_tts_open(&p, &tts, &err);
    if (st == KT_OK) {
        kt_tts_synth_params sp = kt_tts_default_synth_params();
        sp.lang = "en-us";
        st = kt_tts_write_file(tts, argv[4], argv[3], &sp, argv[5], NULL, NULL, &err);
    }
    if (st != KT_OK)
        fprintf(stderr, "example: %s\n", err.msg);
    kt_tts_close(tts);
    return st == KT_OK ? 0 : 1;
}
