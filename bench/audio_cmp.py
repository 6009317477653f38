"""audio_cmp.py - compare two renderings of the same utterance (used by synth.py and convert.py).

compare(ref, out) takes two float arrays (or int16 PCM arrays) and returns a dict:
  snr_db        10 log10(sum ref^2 / sum (ref - out)^2), on the waveform
  max_abs       max |ref - out| (in the units of the input; PCM is scaled to full scale 1.0)
  spec_snr_db   the same ratio on STFT magnitudes (Hann 1024, hop 256): insensitive to a slow
                phase drift of the harmonic source, which makes the waveform SNR of two good
                renderings near 0 dB when the F0 contour moves by a fraction of a hertz
or None when the lengths differ.
"""
import math

import numpy as np


def _as_float(x):
    a = np.asarray(x)
    if a.dtype == np.int16:
        return a.astype(np.float64) / 32768.0
    return a.astype(np.float64)


def _mag(x, n=1024, hop=256):
    if len(x) < n:
        x = np.pad(x, (0, n - len(x)))
    m = 1 + (len(x) - n) // hop
    idx = np.arange(m)[:, None] * hop + np.arange(n)[None, :]
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    return np.abs(np.fft.rfft(x[idx] * w, axis=1))


def _ratio_db(sig, err):
    if err == 0:
        return math.inf
    return 10 * math.log10(sig / err) if sig > 0 else -math.inf


def compare(ref, out):
    r, o = _as_float(ref), _as_float(out)
    if r.shape != o.shape or r.size == 0:
        return None
    d = r - o
    mr, mo = _mag(r), _mag(o)
    return {"snr_db": _ratio_db(float(np.sum(r * r)), float(np.sum(d * d))),
            "max_abs": float(np.max(np.abs(d))),
            "spec_snr_db": _ratio_db(float(np.sum(mr * mr)), float(np.sum((mr - mo) ** 2)))}


def pcm16(b):
    """int16 samples of little-endian 16-bit PCM bytes."""
    return np.frombuffer(b[: len(b) // 2 * 2], dtype="<i2")
