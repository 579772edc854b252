"""Audio files from disk as mono 16 kHz float32 waveforms.

Reading is ``soundfile`` (libsndfile, shipped inside its wheel): WAV of any sample rate,
channel count and 8/16/24/32-bit integer or 32/64-bit float samples, plus FLAC, OGG
Vorbis, MP3 and AIFF. Channels are averaged to mono; any other rate is converted to
16 kHz by ``soxr`` (libsoxr's band-limited resampler, "HQ" quality).

Example:
    >>> import numpy as np, soundfile, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.wav"
    >>> soundfile.write(path, np.zeros((4410, 2)), 44100, subtype="PCM_24")
    >>> read_audio(path).shape
    (1600,)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import soxr

from search._errors import DataError

SAMPLE_RATE = 16000
# What libsndfile reads; matched case-insensitively.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")


def is_audio_file(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES and not path.name.startswith(".")


def read_audio(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The whole file as mono float32 in [-1, 1] at ``sample_rate``; DataError when unreadable."""
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{path} is not a readable audio file ({reason}); use WAV, FLAC, OGG or MP3, or remove it") from None
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if rate != sample_rate and len(mono):
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def fit_length(clip: np.ndarray, samples: int) -> np.ndarray:
    """Zero-pad at the end or cut to exactly ``samples`` (as the Speech Commands example does)."""
    out = np.zeros(samples, dtype=np.float32)
    out[: min(samples, len(clip))] = clip[:samples]
    return out
