"""Words spoken by eSpeak NG, driven through ctypes from the ``espeakng-loader`` wheel.

The wheel ships the library and its voice data, so no system package is needed. eSpeak
NG is GPL-3 software; it is used at run time to make data, never linked into a model.

eSpeak keeps state between utterances that no API call resets: the pitch "flutter"
table index is a static counter that advances with every sample ever generated, so the
same word comes out slightly differently depending on what was said before it in the
process. Synthesis therefore runs in fresh helper processes, one per job, each saying a
fixed list of utterances in a fixed order: that makes the output a pure function of the
job, whatever else the calling process did. It also keeps the library's global state out
of the caller and lets two jobs run at once on two cores.

Example:
    >>> from search.data._espeak import Utterance, synthesize
    >>> [audio] = synthesize([Utterance("yes", "en-us+m3", pitch=50, pitch_range=50, rate=175, seed=1)])
    >>> audio.dtype, 0.2 < len(audio) / 16000 < 1.0
    (dtype('int16'), True)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

if __package__:
    from search.data._audio import resample, trim_silence
else:
    # Run as the helper script: import the NumPy-only sibling directly (this directory
    # is sys.path[0]) rather than the package, whose __init__ pulls in the whole tool.
    from _audio import resample, trim_silence  # type: ignore[no-redef]

SAMPLE_RATE = 16000

# English accents of eSpeak NG (language files under lang/gmw). "en" is British English;
# "en-gb+VARIANT" does not resolve, "en+VARIANT" does.
ACCENTS = (
    "en",
    "en-us",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)

# espeak_PARAMETER values from speak_lib.h.
_RATE, _PITCH, _RANGE = 1, 3, 4
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PHONEMES_IPA = 0x02  # espeak_TextToPhonemes phonememode: IPA, no separator
# Longest speech kept, in seconds: a word must fit the 1 s window with some room to move.
MAX_SECONDS = 0.95
# A job is one helper process; the split into jobs never depends on the number of cores,
# so the corpus is the same on any machine.
JOB_SIZE = 2500
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_SAYING = "saying "  # progress marker the helper writes before each utterance


@dataclass(frozen=True)
class Utterance:
    """One word to say: text, voice configuration and prosody.

    ``voice`` is an accent plus an optional variant, e.g. ``en-us+m3`` or
    ``en-gb-scotland+f2``; ``pitch`` and ``pitch_range`` are eSpeak's 0-100 scales and
    ``rate`` is in words per minute. ``seed`` feeds eSpeak's random generators (breathy
    and Klatt variants use noise sources).
    """

    text: str
    voice: str
    pitch: int
    pitch_range: int
    rate: int
    seed: int


def data_path() -> str:
    """The ``espeak-ng-data`` directory shipped in the wheel."""
    import espeakng_loader

    return espeakng_loader.get_data_path()


def voice_variants() -> list[str]:
    """The voice variants shipped with the data (``m3``, ``f2``, ``klatt``, ...), sorted."""
    variants_dir = Path(data_path()) / "voices" / "!v"
    return sorted(entry.name for entry in variants_dir.iterdir() if entry.is_file())


def voice_configurations() -> list[str]:
    """Every accent with no variant and with each variant: 8 x 105 voices.

    A configuration is what the corpus keeps apart between training, validation and
    test: a split never hears a voice configuration that another split uses.
    """
    variants = voice_variants()
    return [accent if variant is None else f"{accent}+{variant}" for accent in ACCENTS for variant in (None, *variants)]


def library_version() -> str:
    """eSpeak NG's version string, part of every cache fingerprint."""
    import espeakng_loader

    library = ctypes.CDLL(espeakng_loader.get_library_path())
    library.espeak_Info.restype = ctypes.c_char_p
    library.espeak_Info.argtypes = [ctypes.c_void_p]
    return (library.espeak_Info(None) or b"unknown").decode("utf-8", "replace")


class _Synthesizer:
    """The library loaded in this process (only ever in a helper process)."""

    _CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

    def __init__(self) -> None:
        import espeakng_loader

        self.library = ctypes.CDLL(espeakng_loader.get_library_path())
        self.library.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.library.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.library.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.library.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self.sample_rate = self.library.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path().encode(), 0)
        if self.sample_rate <= 0:
            raise RuntimeError(f"eSpeak NG failed to initialise (data at {data_path()})")
        self._chunks: list[np.ndarray] = []
        # The callback object must outlive every synthesis call, so it is kept here.
        self._callback = self._CALLBACK(self._collect)
        self.library.espeak_SetSynthCallback(self._callback)
        self.library.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.library.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        libc_name = ctypes.util.find_library("c")
        self._libc: Optional[ctypes.CDLL] = ctypes.CDLL(libc_name) if libc_name else None

    def _collect(self, samples: ctypes.POINTER(ctypes.c_short), count: int, events: ctypes.c_void_p) -> int:
        if count > 0 and samples:
            self._chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        return 0  # 0 = keep going

    def say(self, utterance: Utterance, rate: int) -> np.ndarray:
        """Raw int16 audio at the library's rate (22050 Hz)."""
        if self.library.espeak_SetVoiceByName(utterance.voice.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {utterance.voice!r}")
        self.library.espeak_SetParameter(_RATE, rate, 0)
        self.library.espeak_SetParameter(_PITCH, utterance.pitch, 0)
        self.library.espeak_SetParameter(_RANGE, utterance.pitch_range, 0)
        # eSpeak has its own generator and also calls the C library's rand().
        self.library.espeak_ng_SetRandSeed(utterance.seed)
        if self._libc is not None:
            self._libc.srand(utterance.seed & 0xFFFFFFFF)
        self._chunks = []
        text = utterance.text.encode("utf-8")
        status = self.library.espeak_Synth(text, len(text) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise RuntimeError(f"eSpeak NG could not say {utterance.text!r} with {utterance.voice!r} (status {status})")
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)

    def phonemes(self, text: str, voice: str) -> str:
        """How ``voice`` pronounces ``text``, in IPA with stress marks (``no``: ``nˈoʊ`` in en-us)."""
        if self.library.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {voice!r}")
        remaining = ctypes.c_char_p(text.encode("utf-8"))
        clauses = []
        # Each call translates one clause and advances the pointer to the next (NULL at the end).
        while remaining.value:
            clauses.append((self.library.espeak_TextToPhonemes(ctypes.byref(remaining), _CHARS_UTF8, _PHONEMES_IPA) or b"").decode("utf-8"))
        return " ".join(clause for clause in clauses if clause)

    def speak(self, utterance: Utterance) -> np.ndarray:
        """Trimmed int16 speech at 16 kHz, at most ``MAX_SECONDS`` long.

        A word spoken too slowly to fit is said again faster (up to three times) rather
        than cut, so the keyword is always whole; the last resort keeps its middle.
        """
        limit = int(MAX_SECONDS * SAMPLE_RATE)
        rate = utterance.rate
        for _ in range(4):
            raw = self.say(utterance, rate).astype(np.float32) / 32768.0
            speech = trim_silence(resample(raw, self.sample_rate, SAMPLE_RATE), SAMPLE_RATE)
            if len(speech) <= limit:
                break
            rate = int(rate * 1.25)
        if len(speech) == 0:
            raise RuntimeError(f"eSpeak NG said nothing for {utterance}")
        if len(speech) > limit:
            start = (len(speech) - limit) // 2
            speech = speech[start : start + limit]
        return np.clip(np.round(speech * 32767.0), -32768, 32767).astype(np.int16)


def _encode(arrays: Sequence[np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([len(array) for array in arrays], dtype=np.int64))
    np.save(buffer, np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int16))
    return buffer.getvalue()


def _decode(payload: bytes) -> list[np.ndarray]:
    buffer = io.BytesIO(payload)
    lengths = np.load(buffer)
    samples = np.load(buffer)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [samples[bounds[i] : bounds[i + 1]] for i in range(len(lengths))]


def _safer(utterance: Utterance, attempt: int) -> Utterance:
    """A stand-in for an utterance that crashed the library, same words and voice.

    A few variants crash eSpeak NG at extreme prosody (``en+Demonic`` saying
    "backward" at pitch 18, range 88 reads past a buffer). Mid-scale pitch and range,
    then a flat high pitch, keep the voice configuration, so the splits stay disjoint.
    """
    pitch, pitch_range = [(50, 50), (85, 10), (70, 30)][min(attempt, 2)]
    return Utterance(utterance.text, utterance.voice, pitch, pitch_range, utterance.rate, utterance.seed)


def _run_job(utterances: Sequence[Utterance], max_crashes: int = 8) -> list[np.ndarray]:
    """Say one job's utterances in a fresh helper process.

    If the library crashes the helper, the utterance it was saying is replaced by a
    safer one and the whole job runs again from the start in a new process: the output
    stays a function of the job alone, because the crash itself is deterministic.
    """
    helper = str(Path(__file__).resolve())
    # One BLAS thread: the resampling matmuls are tiny, and threaded BLAS spinning on a
    # shared 2-core machine made synthesis 10x slower.
    environment = {**os.environ, **{name: "1" for name in _THREAD_VARIABLES}}
    utterances = list(utterances)
    attempts: dict[int, int] = {}
    for _ in range(max_crashes + 1):
        request = json.dumps([asdict(utterance) for utterance in utterances]).encode("utf-8")
        completed = subprocess.run(
            [sys.executable, helper],
            input=request,
            capture_output=True,
            env=environment,
            check=False,
        )
        if completed.returncode == 0:
            return _decode(completed.stdout)
        lines = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        said = [line for line in lines if line.startswith(_SAYING)]
        if completed.returncode > 0 or not said:
            # A Python error, not a crash inside the library: report it.
            raise RuntimeError("speech synthesis failed: " + (lines[-1] if lines else f"exit {completed.returncode}"))
        index = int(said[-1][len(_SAYING) :])
        attempts[index] = attempts.get(index, 0) + 1
        if attempts[index] > 3:
            raise RuntimeError(f"eSpeak NG keeps crashing on {utterances[index]}")
        utterances[index] = _safer(utterances[index], attempts[index] - 1)
    raise RuntimeError(f"eSpeak NG crashed more than {max_crashes} times in one job")


def helper_processes(workers: Optional[int] = None) -> int:
    """How many helper processes run at once: ``workers``, by default up to 2 cores."""
    return workers or max(1, min(2, os.cpu_count() or 1))


def run_jobs(
    items: Sequence[Any],
    job_size: int,
    run_job: Callable[[list[Any]], list[np.ndarray]],
    workers: Optional[int] = None,
    progress: Optional[Callable[[int], None]] = None,
) -> list[np.ndarray]:
    """``run_job`` on fixed slices of ``job_size`` items, at most ``workers`` at once; the
    results in input order. ``progress`` gets the item count of each finished job."""
    jobs = [list(items[start : start + job_size]) for start in range(0, len(items), job_size)]
    if not jobs:
        return []
    results: list[list[np.ndarray]] = [[] for _ in jobs]
    # Threads only wait on the helper processes; the work happens in those.
    with ThreadPoolExecutor(max_workers=min(helper_processes(workers), len(jobs))) as pool:
        futures = {pool.submit(run_job, job): index for index, job in enumerate(jobs)}
        for future in futures:
            index = futures[future]
            results[index] = future.result()
            if progress is not None:
                progress(len(jobs[index]))
    return [audio for job_result in results for audio in job_result]


def synthesize(
    utterances: Sequence[Utterance],
    workers: Optional[int] = None,
    progress: Optional[Callable[[int], None]] = None,
) -> list[np.ndarray]:
    """Say every utterance; returns int16 speech at 16 kHz, trimmed, in input order.

    The result depends only on ``utterances``: jobs of ``JOB_SIZE`` utterances run in
    fresh processes (at most ``workers`` at once, default: up to 2 cores). ``progress``
    is called with the number of utterances each finished job said.
    """
    return run_jobs(utterances, JOB_SIZE, _run_job, workers, progress)


def _serve() -> None:
    """Helper process: read utterances as JSON on stdin, write the audio on stdout.

    Before each utterance it notes the index on stderr, so that the parent can tell
    which one a crash of the library happened on.
    """
    requests = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    synthesizer = _Synthesizer()
    spoken = []
    for index, request in enumerate(requests):
        sys.stderr.write(f"{_SAYING}{index}\n")
        sys.stderr.flush()
        spoken.append(synthesizer.speak(Utterance(**request)))
    sys.stdout.buffer.write(_encode(spoken))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    _serve()
