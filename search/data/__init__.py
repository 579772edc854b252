"""The data the search trains on: audio, features, corpora, datasets and their cache.

* features: :func:`compute_features` (``mfcc10``, ``logmel40``, ``stft129``, in torch),
  the front end an exported ``model.yaml`` names; :func:`log_magnitude` for SE;
* the embedded synthetic keyword corpus (eSpeak NG voices, noise, cached);
* a local Google Speech Commands copy (``--data-dir``);
* speech-enhancement mixtures and their metrics (SI-SNR);
* :func:`load_kws_data` / :func:`load_se_data` / :func:`load_task_data`: normalised
  train/validation/test tensors, computed once and cached under :func:`cache_root`.

Example:
    >>> import torch
    >>> from search.data import compute_features
    >>> compute_features(torch.zeros(2, 16000), "mfcc10").shape
    torch.Size([2, 49, 10])
"""

from search.data._cache import CACHE_ENV, cache_root
from search.data._corpus import CLASS_NAMES, KEYWORDS, SILENCE, SPLITS, UNKNOWN, UNKNOWN_WORDS, CorpusConfig, load_synthetic_corpus
from search.data._datasets import KwsData, KwsSplit, feature_statistics, load_kws_data, load_se_data, load_task_data, normalise
from search.data._espeak import SAMPLE_RATE
from search.data._features import FEATURE_RECIPES, compute_features
from search.data._se_data import SeConfig, SeData, SeSplit, apply_mask, istft, log_magnitude, si_snr, si_snr_improvement, stft
from search.data._speech_commands import load_speech_commands, read_wav

__all__ = [
    "CACHE_ENV",
    "CLASS_NAMES",
    "FEATURE_RECIPES",
    "KEYWORDS",
    "SAMPLE_RATE",
    "SILENCE",
    "SPLITS",
    "UNKNOWN",
    "UNKNOWN_WORDS",
    "CorpusConfig",
    "KwsData",
    "KwsSplit",
    "SeConfig",
    "SeData",
    "SeSplit",
    "apply_mask",
    "cache_root",
    "compute_features",
    "feature_statistics",
    "istft",
    "load_kws_data",
    "load_se_data",
    "load_speech_commands",
    "load_synthetic_corpus",
    "load_task_data",
    "log_magnitude",
    "normalise",
    "read_wav",
    "si_snr",
    "si_snr_improvement",
    "stft",
]
