"""Speech-enhancement data: synthetic speech in noise, STFT magnitudes, SI-SNR.

Clean clips are one or two words from the corpus synthesizer (``search.data._espeak``),
placed in a 1 s window; noise (white, pink, brown or babble of other clips of the same
split) is added at an SNR drawn from a range (default -5 to 15 dB), measured over the
whole window. The model sees log STFT magnitudes (stft129: 256-point Hann window, hop
128, 129 bins) standardised with training statistics, predicts a [0, 1] mask, and the
estimate is resynthesised with the noisy phase. Validation reports the SI-SNR
improvement in dB over the noisy input; PESQ and STOI are added where the optional
``pesq`` / ``pystoi`` packages are installed.

Frames use ``torch.stft(center=True)`` (zero padding of half a window at each end) so
that ``torch.istft`` can invert them; each frame is still one 256-sample window with a
128-sample hop, the stft129 front end a device runs.

Example:
    >>> import torch
    >>> from search.data._se_data import si_snr
    >>> clean = torch.randn(1, 16000)
    >>> bool(si_snr(0.5 * clean, clean) > 100)
    True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from search.data._audio import colored_noise, noise_for_snr, place, rms
from search.data._cache import PathLike, cache_root, fingerprint, load_tensors, save_tensors
from search.data._corpus import BABBLE, KEYWORDS, MIX_NOISE_KINDS, SPLITS, UNKNOWN_WORDS, CorpusConfig, babble_noise, random_utterance, split_voice_configurations
from search.data._espeak import SAMPLE_RATE, library_version, synthesize
from search.data._features import FEATURE_RECIPES, compute_features, hann_window
from search.data._footprint import check_cached_load, check_count_fits, check_disk, se_cache_bytes, se_generation_bytes
from spaces import FEATURE_FRONT_ENDS

FEATURE_NAME = "stft129"
SE_VERSION = 1
_LOG_FLOOR = FEATURE_RECIPES[FEATURE_NAME].log_floor  # magnitude floor before the log
_EPS = 1e-8


@dataclass(frozen=True)
class SeConfig:
    """Everything that determines the SE mixtures (and so their cache key)."""

    train_clips: int = 500
    eval_clips: int = 100  # validation and test each
    clip_samples: int = SAMPLE_RATE
    snr_db: tuple[float, float] = (-5.0, 15.0)
    speech_dbfs: tuple[float, float] = (-30.0, -18.0)  # RMS of the clean window
    words: tuple[int, int] = (1, 2)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.train_clips < 1 or self.eval_clips < 1:
            raise ValueError("train_clips and eval_clips must be >= 1")
        if self.snr_db[0] > self.snr_db[1]:
            raise ValueError(f"snr_db must be (low, high), got {self.snr_db}")

    def split_size(self, split: str) -> int:
        return self.train_clips if split == "train" else self.eval_clips


@dataclass
class SeSplit:
    """Mixtures of one split.

    ``inputs`` [N, frames, 129]: standardised log magnitudes of ``noisy`` (the model's
    input); ``noisy`` and ``clean`` [N, samples] waveforms; ``snr_db`` [N] the SNR each
    mixture was made at; ``noise_kinds`` per clip.
    """

    inputs: torch.Tensor
    noisy: torch.Tensor
    clean: torch.Tensor
    snr_db: torch.Tensor
    noise_kinds: list[str]

    def __len__(self) -> int:
        return int(self.noisy.shape[0])


@dataclass
class SeData:
    """Speech-enhancement data ready for training; ``mean``/``std`` [129] normalise log magnitudes."""

    train: SeSplit
    validation: SeSplit
    test: SeSplit
    mean: torch.Tensor
    std: torch.Tensor
    config: SeConfig
    cache_path: Optional[Path] = None

    task = "se"
    feature_name = FEATURE_NAME

    def split(self, name: str) -> SeSplit:
        return {"train": self.train, "validation": self.validation, "test": self.test}[name]


def stft(waveforms: torch.Tensor) -> torch.Tensor:
    """Complex STFT [N, frames, 129] of [N, samples]; frames = 1 + samples // 128.

    Equal to the stft129 front end (``compute_features``) applied to the waveform
    zero-padded by 128 samples at each end.
    """
    front_end = FEATURE_FRONT_ENDS[FEATURE_NAME]
    spectrum = torch.stft(
        waveforms,
        n_fft=FEATURE_RECIPES[FEATURE_NAME].n_fft,
        hop_length=front_end.hop_samples,
        win_length=front_end.window_samples,
        window=hann_window(front_end.window_samples, dtype=waveforms.dtype),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    return spectrum.transpose(1, 2)


def istft(spectrum: torch.Tensor, samples: int) -> torch.Tensor:
    """Inverse of :func:`stft`: complex [N, frames, 129] -> [N, samples]."""
    front_end = FEATURE_FRONT_ENDS[FEATURE_NAME]
    return torch.istft(
        spectrum.transpose(1, 2),
        n_fft=FEATURE_RECIPES[FEATURE_NAME].n_fft,
        hop_length=front_end.hop_samples,
        win_length=front_end.window_samples,
        window=hann_window(front_end.window_samples, dtype=spectrum.real.dtype),
        center=True,
        length=samples,
    )


def log_magnitude(waveforms: torch.Tensor) -> torch.Tensor:
    """Log STFT magnitudes [N, frames, 129] (not standardised) via the stft129 front end."""
    padding = FEATURE_FRONT_ENDS[FEATURE_NAME].window_samples // 2
    magnitude = compute_features(torch.nn.functional.pad(waveforms, (padding, padding)), FEATURE_NAME)
    return torch.log(magnitude + _LOG_FLOOR)


def apply_mask(mask: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
    """Resynthesise: mask [N, frames, 129] times the noisy spectrum, noisy phase kept."""
    return istft(mask * stft(noisy), noisy.shape[-1])


def ideal_mask(clean: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
    """Ideal amplitude mask min(|S| / |Y|, 1): the best [0, 1] mask for each bin's magnitude."""
    return (stft(clean).abs() / (stft(noisy).abs() + _EPS)).clamp(0.0, 1.0)


def si_snr(estimate: torch.Tensor, reference: torch.Tensor, eps: float = _EPS) -> torch.Tensor:
    """Scale-invariant SNR in dB per row of [N, samples] (both made zero-mean first)."""
    estimate = estimate - estimate.mean(dim=-1, keepdim=True)
    reference = reference - reference.mean(dim=-1, keepdim=True)
    scale = (estimate * reference).sum(dim=-1, keepdim=True) / (reference.square().sum(dim=-1, keepdim=True) + eps)
    target = scale * reference
    residual = estimate - target
    return 10 * torch.log10((target.square().sum(dim=-1) + eps) / (residual.square().sum(dim=-1) + eps))


def si_snr_improvement(estimate: torch.Tensor, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """SI-SNR of the estimate minus SI-SNR of the noisy input, in dB per clip."""
    return si_snr(estimate, clean) - si_snr(noisy, clean)


def quality_metrics(estimate: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
    """Mean PESQ (wide band) and STOI where ``pesq`` / ``pystoi`` are installed; else empty."""
    results: dict[str, float] = {}
    estimates = estimate.detach().double().numpy()
    references = clean.detach().double().numpy()
    try:
        from pesq import pesq as pesq_score
    except ImportError:
        pesq_score = None
    if pesq_score is not None:
        results["pesq"] = float(np.mean([pesq_score(SAMPLE_RATE, ref, est, "wb") for ref, est in zip(references, estimates)]))
    try:
        from pystoi import stoi as stoi_score
    except ImportError:
        stoi_score = None
    if stoi_score is not None:
        results["stoi"] = float(np.mean([stoi_score(ref, est, SAMPLE_RATE) for ref, est in zip(references, estimates)]))
    return results


def _clean_clip(rng: np.random.Generator, words: list[np.ndarray], samples: int) -> np.ndarray:
    """Words joined by short pauses at a random offset in the window (only those that fit)."""
    pieces: list[np.ndarray] = []
    length = 0
    for word in words:
        gap = int(rng.uniform(0.05, 0.2) * SAMPLE_RATE) if pieces else 0
        if length + gap + len(word) > samples and pieces:
            break
        if gap:
            pieces.append(np.zeros(gap, dtype=np.float32))
        pieces.append(word)
        length += gap + len(word)
    speech = np.concatenate(pieces)[:samples]
    return place(speech, samples, int(rng.integers(0, samples - len(speech) + 1)))


def _to_16_bit(waveform: np.ndarray) -> np.ndarray:
    """Round to the 16-bit grid (values stay float32 in [-1, 1))."""
    return np.clip(np.round(waveform * 32768.0), -32768, 32767).astype(np.float32) / 32768.0


def _pcm(waveforms: torch.Tensor) -> torch.Tensor:
    """Float waveforms on the 16-bit grid -> int16, exactly."""
    return torch.round(waveforms * 32768.0).to(torch.int16)


def _build_split(
    config: SeConfig, split: str, voices: list[str], bar: Optional[tqdm]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Clean and noisy waveforms [N, samples], SNRs [N] and noise kinds of one split."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, SPLITS.index(split), 0x5E]))
    prosody = CorpusConfig(seed=config.seed)
    vocabulary = KEYWORDS + UNKNOWN_WORDS
    voice_cycle = [voices[index] for index in rng.permutation(len(voices))]
    counts = [int(rng.integers(config.words[0], config.words[1] + 1)) for _ in range(config.split_size(split))]
    utterances = []
    for clip, count in enumerate(counts):
        voice = voice_cycle[clip % len(voice_cycle)]  # one talker per clip
        for _ in range(count):
            word = vocabulary[int(rng.integers(len(vocabulary)))]
            utterances.append(random_utterance(rng, word, voice, prosody))
    spoken = [audio.astype(np.float32) / 32768.0 for audio in synthesize(utterances)]
    samples = config.clip_samples
    clean = np.zeros((len(counts), samples), dtype=np.float32)
    noisy = np.zeros_like(clean)
    snrs = np.zeros(len(counts), dtype=np.float64)
    kinds: list[str] = []
    position = 0
    for clip, count in enumerate(counts):
        window = _clean_clip(rng, spoken[position : position + count], samples)
        position += count
        window *= 10 ** (rng.uniform(*config.speech_dbfs) / 20) / max(rms(window), 1e-6)
        kind = MIX_NOISE_KINDS[int(rng.integers(len(MIX_NOISE_KINDS)))]
        noise = babble_noise(rng, spoken, int(rng.integers(3, 7)), samples) if kind == BABBLE else None
        if noise is None or rms(noise) == 0:
            noise = colored_noise(kind if kind != BABBLE else "white", samples, rng)
        snr = float(rng.uniform(*config.snr_db))
        mixture = window + noise_for_snr(window, noise, snr)
        # Scale clean and noisy together if the mixture would clip: the SNR is unchanged.
        peak = float(np.abs(mixture).max())
        if peak > 0.99:
            window *= 0.99 / peak
            mixture *= 0.99 / peak
        # 16-bit audio, as a recording would be; it also halves the cache.
        clean[clip], noisy[clip], snrs[clip] = _to_16_bit(window), _to_16_bit(mixture), snr
        kinds.append(kind)
        if bar is not None:
            bar.update(1)
    return clean, noisy, snrs, kinds


def se_fingerprint(config: SeConfig) -> dict:
    return {"kind": "se-synthetic", "version": SE_VERSION, "espeak": library_version(), "config": asdict(config)}


def build_se_mixtures(config: SeConfig, progress: bool = True) -> SeData:
    """Generate the SE data (no cache)."""
    voices = split_voice_configurations(config.seed)
    raw = {}
    total = config.train_clips + 2 * config.eval_clips
    with tqdm(total=total, desc="SE mixtures", unit="clip", disable=not progress) as bar:
        for split in SPLITS:
            raw[split] = _build_split(config, split, voices[split], bar)
    return se_data_from_mixtures(raw, config)


def se_data_from_mixtures(raw: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]], config: SeConfig) -> SeData:
    """SE data from per-split (clean, noisy, SNRs, noise kinds); inputs standardised with training statistics."""
    logs = {split: log_magnitude(torch.from_numpy(raw[split][1])) for split in SPLITS}
    frames = logs["train"].reshape(-1, logs["train"].shape[-1]).double()
    mean, std = frames.mean(dim=0).float(), frames.std(dim=0).clamp_min(1e-5).float()
    splits = {
        split: SeSplit(
            inputs=((logs[split] - mean) / std).contiguous(),
            noisy=torch.from_numpy(raw[split][1]),
            clean=torch.from_numpy(raw[split][0]),
            snr_db=torch.from_numpy(raw[split][2]),
            noise_kinds=raw[split][3],
        )
        for split in SPLITS
    }
    return SeData(splits["train"], splits["validation"], splits["test"], mean, std, config)


def load_se_cache(path: Path, recipe: str, config: SeConfig) -> Optional[SeData]:
    """The SE data cached at ``path`` under ``recipe``, or None."""
    payload = load_tensors(path)
    if payload is None or payload.get("recipe") != recipe:
        return None
    splits = {}
    for split in SPLITS:
        stored = dict(payload["splits"][split])
        for name in ("noisy", "clean"):
            stored[name] = stored[name].to(torch.float32) / 32768.0
        splits[split] = SeSplit(**stored)
    return SeData(splits["train"], splits["validation"], splits["test"], payload["mean"], payload["std"], config, path)


def save_se_cache(path: Path, recipe: str, data: SeData) -> SeData:
    """Cache ``data`` at ``path`` (waveforms as 16-bit PCM); returns it with its cache path."""
    save_tensors(
        path,
        {
            "recipe": recipe,
            "mean": data.mean,
            "std": data.std,
            "splits": {
                split: {
                    "inputs": data.split(split).inputs,
                    "noisy": _pcm(data.split(split).noisy),
                    "clean": _pcm(data.split(split).clean),
                    "snr_db": data.split(split).snr_db,
                    "noise_kinds": data.split(split).noise_kinds,
                }
                for split in SPLITS
            },
        },
    )
    data.cache_path = path
    return data


def se_cache_path(config: SeConfig, cache_dir: Optional[PathLike] = None) -> Path:
    return cache_root(cache_dir) / f"se-synthetic-n{config.train_clips}-s{config.seed}-{fingerprint(se_fingerprint(config))}.pt"


def check_se_mixtures_fit(config: SeConfig, cache_dir: Optional[PathLike] = None) -> None:
    """Refuse, in one line, SE mixtures this machine cannot make, cache or load."""
    path = se_cache_path(config, cache_dir)
    if path.is_file():
        check_cached_load(path, "the cached SE mixtures", "free memory, or use a smaller --utterances-per-class")
        return
    clips = config.train_clips + 2 * config.eval_clips
    check_count_fits(
        "--utterances-per-class", config.train_clips, lambda count: se_generation_bytes(count + 2 * config.eval_clips, config.clip_samples),
        f"generating the SE mixtures ({clips:,} clips)",
    )
    check_disk(
        se_cache_bytes(clips, config.clip_samples), path.parent, f"caching the SE mixtures ({clips:,} clips)",
        "free space there, set GHOSTRNN_CACHE to a larger disk, or use a smaller --utterances-per-class",
    )


def load_se_mixtures(config: SeConfig = SeConfig(), cache_dir: Optional[PathLike] = None, progress: bool = True) -> SeData:
    """The SE data from the cache, generating and caching it on first use."""
    check_se_mixtures_fit(config, cache_dir)
    recipe = json.dumps(se_fingerprint(config), sort_keys=True)
    path = se_cache_path(config, cache_dir)
    return load_se_cache(path, recipe, config) or save_se_cache(path, recipe, build_se_mixtures(config, progress))
