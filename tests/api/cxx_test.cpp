// cxx_test.cpp - libkt from C++ through kt/kt.h: synthesize with callbacks, then to a file.
// Usage: cxx_test MODEL CONFIG VOICES_DIR OUT.wav (prints the sample count).
#include <kt/kt.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

int collect(void *user, const kt_tts_chunk *c)
{
    auto *out = static_cast<std::vector<float> *>(user);
    out->insert(out->end(), c->samples, c->samples + c->n_samples);
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 5)
        return 2;
    kt_tts_params p = kt_tts_default_params();
    p.model_path = argv[1];
    p.config_path = argv[2];
    p.voices_dir = argv[3];
    kt_tts *tts = nullptr;
    kt_error err;
    if (kt_tts_open(&p, &tts, &err) != KT_OK) {
        std::fprintf(stderr, "cxx_test: %s\n", err.msg);
        return 1;
    }
    std::vector<float> audio;
    kt_tts_synth_params sp = kt_tts_default_synth_params();
    sp.on_audio = collect;
    sp.user = &audio;
    kt_status st = kt_tts_synthesize(tts, "Hello from C++.", "af_tiny", &sp, nullptr, &err);
    if (st == KT_OK)
        st = kt_tts_write_file(tts, "Hello from C++.", "af_tiny", nullptr, argv[4], nullptr, nullptr, &err);
    kt_tts_close(tts);
    if (st != KT_OK) {
        std::fprintf(stderr, "cxx_test: %s (%s)\n", err.msg, kt_status_name(st));
        return 1;
    }
    std::printf("%zu %s\n", audio.size(), std::string(kt_version()).c_str());
    return 0;
}
