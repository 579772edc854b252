"""Waveform utilities shared by the data builders: resampling, trimming, noise, mixing.

Everything here is NumPy only, so the synthesizer's helper process can use it without
importing torch. Waveforms are float arrays in [-1, 1] unless said otherwise.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

NOISE_KINDS = ("white", "pink", "brown")


@lru_cache(maxsize=64)
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


def warp(signal: np.ndarray, factor: float, sample_rate: int = 16000) -> np.ndarray:
    """The signal played ``factor`` times faster: shorter, higher pitch, higher formants.

    Resampling from ``sample_rate * factor`` to ``sample_rate`` scales every frequency by
    ``factor`` and the duration by ``1 / factor`` (Kaldi-style speed perturbation): one
    cheap operation that moves pitch and the formants together, as a longer or shorter
    vocal tract does. The source rate is rounded to 100 Hz so the polyphase kernel stays
    small (factor steps of 0.6 % at 16 kHz).
    """
    if factor <= 0:
        raise ValueError(f"warp factor must be > 0, got {factor}")
    source_rate = int(round(sample_rate * factor / 100.0)) * 100
    return resample(signal, source_rate, sample_rate)


def room_impulse_response(rng: np.random.Generator, rt60_s: float, direct_to_reverb_db: float, sample_rate: int = 16000) -> np.ndarray:
    """A synthetic room impulse response: a direct path, then exponentially decaying noise.

    The tail is Gaussian noise under an envelope that falls 60 dB in ``rt60_s`` (the
    classic statistical model of a diffuse field), low-passed once so high frequencies
    die faster, as air and walls absorb them; its energy sits ``direct_to_reverb_db``
    below the direct path's. Normalised to a unit direct path.
    """
    length = max(2, int(min(rt60_s, 1.0) * sample_rate))
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.9078 * t / rt60_s)  # ln(1000) = 60 dB in amplitude
    tail = np.convolve(tail, [0.5, 0.5])[:length]
    tail[0] = 0.0
    delay = int(rng.integers(int(0.002 * sample_rate), int(0.01 * sample_rate)))  # first reflections
    tail = np.concatenate([np.zeros(delay), tail])[:length]
    tail *= 10 ** (-direct_to_reverb_db / 20) / max(float(np.sqrt(np.sum(tail**2))), 1e-12)
    response = tail
    response[0] = 1.0
    return response.astype(np.float32)


def convolve(signal: np.ndarray, response: np.ndarray) -> np.ndarray:
    """Full linear convolution by FFT (length ``len(signal) + len(response) - 1``)."""
    length = len(signal) + len(response) - 1
    size = 1 << (length - 1).bit_length()
    spectrum = np.fft.rfft(signal, size) * np.fft.rfft(response, size)
    return np.fft.irfft(spectrum, size)[:length].astype(np.float32)


def microphone_responses(rng: np.random.Generator, count: int, samples: int, sample_rate: int = 16000) -> np.ndarray:
    """``count`` random magnitude responses [count, samples // 2 + 1] of cheap microphones and channels.

    Each is a second-order high-pass (corner 50-400 Hz, small capsules lose the bass),
    a fourth-order low-pass (corner 3.5-8 kHz, or none: band-limited codecs and
    anti-aliasing), and a smooth ripple of up to +-6 dB (three random cosines over
    log-frequency: resonances of the capsule and its housing). The curves are smooth,
    so they are computed on a 257-point grid and interpolated linearly to the FFT bins
    (16x fewer transcendental evaluations: the whole cost of this function).
    """
    nyquist = sample_rate / 2
    grid = np.linspace(0.0, nyquist, 257)
    grid[0] = grid[1] / 2  # keep the logs finite; DC is removed below
    high_pass = rng.uniform(50.0, 400.0, (count, 1))
    low_pass = np.where(rng.random((count, 1)) < 0.5, rng.uniform(3500.0, 8000.0, (count, 1)), np.inf)
    magnitude = 1.0 / np.sqrt(1.0 + (high_pass / grid) ** 4)
    magnitude /= np.sqrt(1.0 + (grid / low_pass) ** 8)
    octaves = np.log2(grid / 100.0)  # about 0-6.3 octaves across 100 Hz - 8 kHz
    ripple_db = np.zeros((count, len(grid)))
    for _ in range(3):
        amplitude = rng.uniform(0.0, 2.0, (count, 1))
        period = rng.uniform(1.0, 6.0, (count, 1))  # octaves per cycle
        phase = rng.uniform(0.0, 2 * np.pi, (count, 1))
        ripple_db += amplitude * np.cos(2 * np.pi * octaves / period + phase)
    magnitude *= 10 ** (ripple_db / 20)
    position = np.fft.rfftfreq(samples, 1.0 / sample_rate) / (nyquist / (len(grid) - 1))
    lower = np.minimum(position.astype(np.int64), len(grid) - 2)
    weight = (position - lower).astype(np.float32)
    magnitude = magnitude.astype(np.float32)
    fine = magnitude[:, lower] * (1 - weight) + magnitude[:, lower + 1] * weight
    fine[:, 0] = 0.0
    return fine


def apply_magnitude_response(waveforms: np.ndarray, magnitudes: np.ndarray) -> np.ndarray:
    """Zero-phase filtering of each row by its magnitude response (circular over the window)."""
    spectra = np.fft.rfft(waveforms, axis=1) * magnitudes
    return np.fft.irfft(spectra, n=waveforms.shape[1], axis=1).astype(np.float32)


def breath(rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """A unit-RMS breath: 150-450 ms of band-limited noise under a smooth rise and fall.

    A breath is turbulent air through the open mouth: noise with the energy of a broad
    vowel-less resonance (band-passed at 300-1000 to 2000-5000 Hz), swelling and fading.
    """
    length = int(rng.uniform(0.15, 0.45) * sample_rate)
    spectrum = np.fft.rfft(rng.standard_normal(length))
    frequencies = np.fft.rfftfreq(length, 1.0 / sample_rate)
    low, high = rng.uniform(300.0, 1000.0), rng.uniform(2000.0, 5000.0)
    spectrum *= 1.0 / np.sqrt(1.0 + (low / np.maximum(frequencies, 1.0)) ** 4) / np.sqrt(1.0 + (frequencies / high) ** 4)
    noise = np.fft.irfft(spectrum, n=length) * np.sin(np.linspace(0.0, np.pi, length)) ** 2
    return (noise / max(rms(noise), 1e-12)).astype(np.float32)


def click(rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """A unit-peak click: 1-5 ms of noise decaying fast (a lip smack, a button, a cable)."""
    length = int(rng.uniform(0.001, 0.005) * sample_rate)
    burst = rng.standard_normal(length) * np.exp(-np.arange(length) / max(1.0, length / 4))
    return (burst / max(float(np.abs(burst).max()), 1e-12)).astype(np.float32)
