"""Waveform utilities shared by the data builders: resampling, trimming, noise, mixing.

Everything here is NumPy only, so the synthesizer's helper process can use it without
importing torch. Waveforms are float arrays in [-1, 1] unless said otherwise.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

NOISE_KINDS = ("white", "pink", "brown")


@lru_cache(maxsize=8)
def _sinc_kernel(orig: int, new: int, zero_crossings: int, rolloff: float) -> tuple[np.ndarray, int]:
    """Polyphase windowed-sinc kernel [new, 2 * width + orig] for rates reduced by their gcd.

    Row ``i`` holds the taps that produce output phase ``i`` of every block of ``new``
    outputs from a block of ``orig`` inputs (the construction torchaudio uses).
    """
    cutoff = min(orig, new) * rolloff  # anti-aliasing low-pass, in units of the reduced rates
    width = math.ceil(zero_crossings * orig / cutoff)
    taps = np.arange(-width, width + orig, dtype=np.float64)[None, :] / orig
    phases = -np.arange(new, dtype=np.float64)[:, None] / new
    t = (taps + phases) * cutoff
    t = np.clip(t, -zero_crossings, zero_crossings)
    window = np.cos(t * math.pi / zero_crossings / 2) ** 2  # Hann window over the taps
    kernel = np.sinc(t) * window * cutoff / orig
    return kernel.astype(np.float64), width


def resample(signal: np.ndarray, orig_rate: int, new_rate: int, zero_crossings: int = 6, rolloff: float = 0.99) -> np.ndarray:
    """Band-limited resampling of a 1-D signal (windowed sinc, polyphase).

    The output has ``ceil(len * new / orig)`` samples. Used to bring eSpeak's 22050 Hz
    output to 16 kHz; a block matmul keeps it well under a millisecond per word.
    """
    if orig_rate == new_rate:
        return np.asarray(signal, dtype=np.float32)
    divisor = math.gcd(orig_rate, new_rate)
    orig, new = orig_rate // divisor, new_rate // divisor
    kernel, width = _sinc_kernel(orig, new, zero_crossings, rolloff)
    signal = np.asarray(signal, dtype=np.float64)
    length = math.ceil(len(signal) * new / orig)
    blocks = math.ceil(len(signal) / orig)
    padded = np.zeros(blocks * orig + 2 * width + orig, dtype=np.float64)
    padded[width : width + len(signal)] = signal
    frames = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape[1])[::orig][:blocks]
    output = (frames @ kernel.T).reshape(-1)[:length]
    return output.astype(np.float32)


def trim_silence(signal: np.ndarray, sample_rate: int, threshold_db: float = 40.0, margin_s: float = 0.02) -> np.ndarray:
    """Cut leading and trailing frames quieter than ``threshold_db`` below the loudest frame.

    The synthesizer pads words with silence; trimming lets the corpus place the word
    itself at a random offset in the 1 s window.
    """
    frame = max(1, int(0.01 * sample_rate))
    count = len(signal) // frame
    if count == 0:
        return signal
    energy = (signal[: count * frame].astype(np.float64).reshape(count, frame) ** 2).mean(axis=1)
    peak = energy.max()
    if peak <= 0:
        return signal[:0]
    active = np.flatnonzero(energy >= peak * 10 ** (-threshold_db / 10))
    margin = int(margin_s * sample_rate)
    start = max(0, active[0] * frame - margin)
    stop = min(len(signal), (active[-1] + 1) * frame + margin)
    return signal[start:stop]


def rms(signal: np.ndarray) -> float:
    """Root mean square of a signal (0 for an empty one)."""
    if signal.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))))


def colored_noise(kind: str, samples: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS Gaussian noise with a 1/f^alpha power spectrum.

    ``white`` is flat, ``pink`` falls 3 dB per octave and ``brown`` 6 dB per octave;
    shaping a white spectrum in the frequency domain gives all three exactly.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; valid: {', '.join(NOISE_KINDS)}")
    white = rng.standard_normal(samples)
    if kind != "white":
        exponent = {"pink": 0.5, "brown": 1.0}[kind]  # amplitude slope: f^-exponent
        spectrum = np.fft.rfft(white)
        frequencies = np.arange(spectrum.size, dtype=np.float64)
        frequencies[0] = 1.0  # the DC bin keeps its (zero-mean) value
        spectrum /= frequencies**exponent
        white = np.fft.irfft(spectrum, n=samples)
    white -= white.mean()
    return (white / max(rms(white), 1e-12)).astype(np.float32)


def place(signal: np.ndarray, samples: int, offset: int) -> np.ndarray:
    """``signal`` written into a zero window of ``samples`` starting at ``offset`` (cut at the end)."""
    window = np.zeros(samples, dtype=np.float32)
    piece = signal[: max(0, samples - offset)]
    window[offset : offset + len(piece)] = piece
    return window


def noise_for_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``noise`` scaled so that 10 log10(P_speech / P_noise) equals ``snr_db``.

    Powers are measured over the whole window, the convention SI-SNR and most SE
    papers use.
    """
    speech_power = float(np.mean(np.square(speech, dtype=np.float64)))
    noise_power = float(np.mean(np.square(noise, dtype=np.float64)))
    if noise_power <= 0:
        raise ValueError("cannot scale a silent noise signal to an SNR")
    gain = math.sqrt(speech_power / (noise_power * 10 ** (snr_db / 10)))
    return (noise * gain).astype(np.float32)
