"""kt.py - Kokoro-82M text to speech through libkt, with ctypes (no compiled extension, no PyTorch).

    import kt
    with kt.TTS("kokoro-v1_0.pth", voices_dir="voices") as tts:
        samples = tts.synthesize("Hello world.", voice="af_heart")   # array('f') at 24 kHz
        tts.write("Hello world.", "hello.wav", voice="af_heart")

libkt.so is looked up in $KT_LIB (a path), then by the system's library search (ctypes.util).
A TTS object may be used from several threads at once (each call has its own state) unless it
was opened with single_caller=True (then calls wait for each other).
"""
import ctypes
import ctypes.util
import os
from array import array

SAMPLE_RATE = 24000
_BF16_WINOGRAD = 2  # KT_BF16_WINOGRAD in kt/kt.h

c_char_p, c_int, c_size_t, c_double, c_void_p = ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t, ctypes.c_double, ctypes.c_void_p


class _Error(ctypes.Structure):
    _fields_ = [("code", c_int), ("msg", ctypes.c_char * 512)]


class _Params(ctypes.Structure):
    _fields_ = [("model_path", c_char_p), ("config_path", c_char_p), ("voices_dir", c_char_p),
                ("n_threads", c_int), ("bf16", c_int), ("isa", c_char_p), ("gen_lowmem", c_size_t),
                ("single_caller", c_int), ("keep_blas_threads", c_int), ("share_threads", c_int)]


class _Chunk(ctypes.Structure):
    _fields_ = [("index", c_size_t), ("count", c_size_t), ("phonemes", c_char_p),
                ("samples", ctypes.POINTER(ctypes.c_float)), ("n_samples", c_size_t), ("offset", c_size_t),
                ("token_frames", ctypes.POINTER(c_int)), ("n_tokens", c_int), ("samples_per_frame", c_double),
                ("seconds", c_double), ("trimmed", c_size_t), ("threads", c_int)]


class _Word(ctypes.Structure):
    _fields_ = [("text", c_char_p), ("byte_start", c_size_t), ("byte_end", c_size_t), ("char_start", c_size_t),
                ("char_end", c_size_t), ("start", c_double), ("end", c_double), ("chunk", c_size_t)]


class _Timing(ctypes.Structure):
    _fields_ = [("text", c_char_p), ("start", c_double), ("end", c_double)]


_AUDIO_FN = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.POINTER(_Chunk))
_TIMING_FN = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.POINTER(_Timing), c_size_t)
_PROGRESS_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_size_t, c_size_t)
_WARNING_FN = ctypes.CFUNCTYPE(None, c_void_p, c_char_p)
_WORDS_FN = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.POINTER(_Word), c_size_t)


class _SynthParams(ctypes.Structure):
    _fields_ = [("phonemes", c_int), ("lang", c_char_p), ("speed", ctypes.c_float), ("seed", ctypes.c_uint32),
                ("first_chunk", c_int), ("lexicon", c_char_p), ("on_audio", _AUDIO_FN), ("on_timing", _TIMING_FN),
                ("on_progress", _PROGRESS_FN), ("on_warning", _WARNING_FN), ("user", c_void_p),
                ("markup", c_int), ("format", c_int), ("rate", c_int), ("on_words", _WORDS_FN), ("gaps", c_int),
                ("sentence_gap", c_double), ("paragraph_gap", c_double), ("srt_path", c_char_p),
                ("vtt_path", c_char_p)]


class _Stats(ctypes.Structure):
    _fields_ = [("samples", c_size_t), ("chunks", c_size_t), ("phonemes", c_size_t), ("lang", c_char_p),
                ("load_seconds", c_double), ("voice_seconds", c_double), ("first_audio_seconds", c_double),
                ("synthesis_seconds", c_double), ("synthesis_cpu_seconds", c_double),
                ("output_samples", c_size_t), ("output_rate", c_int), ("format", c_char_p)]


def _load():
    path = os.environ.get("KT_LIB") or ctypes.util.find_library("kt")
    if not path:
        raise OSError("libkt not found: install it or set KT_LIB to the path of libkt.so")
    lib = ctypes.CDLL(path)
    P = ctypes.POINTER
    P_ERR = P(_Error)
    sigs = {
        "kt_version": (c_char_p, []),
        "kt_status_name": (c_char_p, [c_int]),
        "kt_tts_default_params": (_Params, []),
        "kt_tts_default_synth_params": (_SynthParams, []),
        "kt_tts_open": (c_int, [P(_Params), P(c_void_p), P_ERR]),
        "kt_tts_close": (None, [c_void_p]),
        "kt_tts_synthesize": (c_int, [c_void_p, c_char_p, c_char_p, P(_SynthParams), P(_Stats), P_ERR]),
        "kt_tts_write_file": (c_int, [c_void_p, c_char_p, c_char_p, P(_SynthParams), c_char_p, c_char_p,
                                      P(_Stats), P_ERR]),
        "kt_tts_phonemes": (c_int, [c_char_p, c_char_p, c_char_p, P(_SynthParams), P(c_void_p), P_ERR]),
        "kt_free": (None, [c_void_p]),
    }
    for name, (res, args) in sigs.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    return lib


_lib = _load()


class KtError(Exception):
    """A libkt error: code is the status name ("invalid", "notfound", ...), message the reason."""

    def __init__(self, status, err):
        self.code = _lib.kt_status_name(status).decode()
        self.message = err.msg.decode("utf-8", "replace")
        super().__init__("%s (%s)" % (self.message, self.code))


# kt_tts_format's names, in its order (index 0: from the extension).
FORMATS = (None, "wav", "wav-f32", "flac", "vorbis", "opus", "mp3", "pcm", "pcm-f32")


def _b(s):
    return None if s is None else os.fsencode(s) if not isinstance(s, str) else s.encode("utf-8")


def version():
    """The version of the loaded libkt, "MAJOR.MINOR.PATCH"."""
    return _lib.kt_version().decode()


class TTS:
    """A loaded Kokoro model; see kt_tts_open in kt/kt.h for the parameters. bf16: False, True
    (bfloat16 convolutions) or "winograd" (KT_BF16_WINOGRAD, as kt-synth --bf16-winograd)."""

    _h = None  # the kt_tts handle once opened

    def __init__(self, model, config=None, voices_dir=None, threads=0, bf16=False, single_caller=False,
                 share_threads=False):
        if bf16 not in (False, True, "winograd"):
            raise ValueError("bf16 must be False, True or 'winograd'")
        p = _lib.kt_tts_default_params()
        self._keep = [_b(model), _b(config), _b(voices_dir)]
        p.model_path, p.config_path, p.voices_dir = self._keep
        p.n_threads, p.single_caller = threads, int(single_caller)
        p.bf16 = _BF16_WINOGRAD if bf16 == "winograd" else int(bf16)
        p.share_threads = int(share_threads)
        self._h = c_void_p()
        err = _Error()
        st = _lib.kt_tts_open(ctypes.byref(p), ctypes.byref(self._h), ctypes.byref(err))
        if st:
            raise KtError(st, err)

    def close(self):
        if self._h:
            _lib.kt_tts_close(self._h)
            self._h = c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    @staticmethod
    def _params(lang, phonemes, speed, seed, on_chunk, on_timing, on_words=None):
        p = _lib.kt_tts_default_synth_params()
        keep = [_b(lang)]
        p.lang, p.phonemes, p.speed, p.seed = keep[0], int(phonemes), speed, seed
        if on_chunk:
            def audio(_user, c):
                c = c.contents
                on_chunk(array("f", c.samples[:c.n_samples]), c.phonemes.decode("utf-8"))
                return 0
            keep.append(_AUDIO_FN(audio))
            p.on_audio = keep[-1]
        if on_timing:
            def timing(_user, units, n):
                on_timing([(units[i].text.decode("utf-8"), units[i].start, units[i].end) for i in range(n)])
                return 0
            keep.append(_TIMING_FN(timing))
            p.on_timing = keep[-1]
        if on_words:
            def words(_user, w, n):
                on_words([{"text": w[i].text.decode("utf-8"), "start": w[i].start, "end": w[i].end,
                           "char_start": w[i].char_start, "char_end": w[i].char_end} for i in range(n)])
                return 0
            keep.append(_WORDS_FN(words))
            p.on_words = keep[-1]
        return p, keep

    def synthesize(self, text, voice="af_heart", lang=None, phonemes=False, speed=1.0, seed=0, on_timing=None,
                   on_words=None):
        """The audio of text as array('f') at SAMPLE_RATE. on_timing(list of (phoneme, start, end))
        is called for each chunk; on_words(list of dicts: text, start, end, char_start, char_end) with
        each chunk's words."""
        out = array("f")
        p, keep = self._params(lang, phonemes, speed, seed, lambda x, _ps: out.extend(x), on_timing, on_words)
        err = _Error()
        st = _lib.kt_tts_synthesize(self._h, _b(text), _b(voice), ctypes.byref(p), None, ctypes.byref(err))
        del keep
        if st:
            raise KtError(st, err)
        return out

    def write(self, text, path, voice="af_heart", lang=None, phonemes=False, speed=1.0, seed=0, durations=None,
              format=None, rate=0):
        """Synthesizes text into path (format None: from the extension, .wav, .flac, .ogg, .opus, .mp3,
        .pcm, .f32; or one of FORMATS) at rate Hz (0: SAMPLE_RATE); durations: a JSON file of the timings."""
        p, keep = self._params(lang, phonemes, speed, seed, None, None)
        p.format, p.rate = FORMATS.index(format) if format else 0, rate
        err = _Error()
        st = _lib.kt_tts_write_file(self._h, _b(text), _b(voice), ctypes.byref(p), _b(path), _b(durations), None,
                                    ctypes.byref(err))
        del keep
        if st:
            raise KtError(st, err)


def phonemes(text, voice="af_heart", lang=None, config=None):
    """The phonemes kt would speak for text, one chunk per line (no model needed)."""
    p = _lib.kt_tts_default_synth_params()
    lang_b = _b(lang)
    p.lang = lang_b
    out, err = c_void_p(), _Error()
    st = _lib.kt_tts_phonemes(_b(config), _b(text), _b(voice), ctypes.byref(p), ctypes.byref(out),
                              ctypes.byref(err))
    if st:
        raise KtError(st, err)
    s = ctypes.string_at(out).decode("utf-8")
    _lib.kt_free(out)
    return s
