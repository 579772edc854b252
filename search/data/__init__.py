"""The data the search trains on: audio, features, corpora, datasets and their cache.

* features: :func:`compute_features` (``mfcc10``, ``logmel40``, ``stft129``, in torch),
  the front end an exported ``model.yaml`` names; :func:`log_magnitude` for SE;
* the embedded synthetic keyword corpus (eSpeak NG and neural voices, noise, cached);
* a folder of class folders of audio clips in any format (``--data-dir``; Google Speech
  Commands or one's own words): :func:`load_folder_dataset`, :func:`scan_folders`;
* speech-enhancement mixtures, synthetic or of one's own ``clean/`` and ``noise/``
  recordings, and their metrics (SI-SNR);
* :func:`load_kws_data` / :func:`load_se_data` / :func:`load_task_data`: normalised
  train/validation/test tensors, computed once and cached under :func:`cache_root`;
* :func:`check_task_data_fits` / :func:`check_workers_fit`: data that memory or the cache
  disk cannot hold is refused in one line before it is made or loaded.

Example:
    >>> import torch
    >>> from search.data import compute_features
    >>> compute_features(torch.zeros(2, 16000), "mfcc10").shape
    torch.Size([2, 49, 10])
"""

from typing import TYPE_CHECKING

from spaces import lazy_exports

# Names are imported on first use: reading a folder's layout or a constant must not load torch.
if TYPE_CHECKING:
    from search.data._cache import CACHE_ENV, cache_root
    from search.data._corpus import CLASS_NAMES, KEYWORDS, SILENCE, SPLITS, UNKNOWN, UNKNOWN_WORDS, CorpusConfig, load_synthetic_corpus
    from search.data._datasets import KwsData, KwsSplit, check_task_data_fits, feature_statistics, load_kws_data, load_se_data, load_task_data, normalise
    from search.data._footprint import check_workers_fit
    from search.data._espeak import SAMPLE_RATE
    from search.data._features import FEATURE_RECIPES, compute_features, dct_matrix, mel_filterbank
    from search.data._audio_files import AUDIO_SUFFIXES, read_audio
    from search.data._class_folders import FolderLayout, hash_split, parse_keywords, scan_folders
    from search.data._folder_dataset import FolderDataset, dataset_notes, load_folder_dataset
    from search.data._se_data import SeConfig, SeData, SeSplit, apply_mask, istft, log_magnitude, si_snr, si_snr_improvement, stft

_EXPORTS = {
    "CACHE_ENV": "search.data._cache",
    "cache_root": "search.data._cache",
    "CLASS_NAMES": "search.data._corpus",
    "KEYWORDS": "search.data._corpus",
    "SILENCE": "search.data._corpus",
    "SPLITS": "search.data._corpus",
    "UNKNOWN": "search.data._corpus",
    "UNKNOWN_WORDS": "search.data._corpus",
    "CorpusConfig": "search.data._corpus",
    "load_synthetic_corpus": "search.data._corpus",
    "KwsData": "search.data._datasets",
    "KwsSplit": "search.data._datasets",
    "check_task_data_fits": "search.data._datasets",
    "check_workers_fit": "search.data._footprint",
    "feature_statistics": "search.data._datasets",
    "normalise": "search.data._datasets",
    "load_kws_data": "search.data._datasets",
    "load_se_data": "search.data._datasets",
    "load_task_data": "search.data._datasets",
    "SAMPLE_RATE": "search.data._espeak",
    "FEATURE_RECIPES": "search.data._features",
    "compute_features": "search.data._features",
    "dct_matrix": "search.data._features",
    "mel_filterbank": "search.data._features",
    "AUDIO_SUFFIXES": "search.data._audio_files",
    "read_audio": "search.data._audio_files",
    "FolderLayout": "search.data._class_folders",
    "hash_split": "search.data._class_folders",
    "parse_keywords": "search.data._class_folders",
    "scan_folders": "search.data._class_folders",
    "FolderDataset": "search.data._folder_dataset",
    "dataset_notes": "search.data._folder_dataset",
    "load_folder_dataset": "search.data._folder_dataset",
    "SeConfig": "search.data._se_data",
    "SeData": "search.data._se_data",
    "SeSplit": "search.data._se_data",
    "apply_mask": "search.data._se_data",
    "istft": "search.data._se_data",
    "log_magnitude": "search.data._se_data",
    "si_snr": "search.data._se_data",
    "si_snr_improvement": "search.data._se_data",
    "stft": "search.data._se_data",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "AUDIO_SUFFIXES",
    "FolderDataset",
    "FolderLayout",
    "dataset_notes",
    "hash_split",
    "parse_keywords",
    "read_audio",
    "scan_folders",
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
    "dct_matrix",
    "check_task_data_fits",
    "check_workers_fit",
    "feature_statistics",
    "istft",
    "load_kws_data",
    "load_se_data",
    "load_folder_dataset",
    "load_synthetic_corpus",
    "load_task_data",
    "log_magnitude",
    "mel_filterbank",
    "normalise",
    "si_snr",
    "si_snr_improvement",
    "stft",
]
