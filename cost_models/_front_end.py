"""The feature front end's cost on a device: flash for its tables and code, RAM, work and latency per hop.

A deployed keyword spotter (or speech enhancer) turns audio into features on the device,
once per hop, before the RNN sees a frame. This module costs that front end as the
exported C library implements it (``cost_models.deploy``: ``ghostrnn_features.c``):

* **Flash** (const tables, float32): half a periodic Hann window (``window / 2 + 1``),
  the FFT twiddles (cos and sin of ``n_fft / 2`` angles), the mel filterbank stored
  sparsely (a start, a count and an offset per band, uint16, and every non-zero weight),
  the DCT matrix (``dims x bands``, MFCC only) and the normalisation (mean and scale per
  feature); plus the front end's code, a per-device figure fitted to the compiled
  library (``code_bytes`` in the device profile; see below).
* **RAM**: the int16 audio window, the float FFT work buffer of ``n_fft`` values and a
  sample counter (the caller-owned ``ghostrnn_features_state``), and the float mel and
  feature vectors of one frame on the stack.
* **Work per hop**, counted: window samples moved and windowed, FFT points (zero
  padding, bit reversal, the real-spectrum split and power), radix-2 butterflies of the
  ``n_fft / 2``-point complex FFT, float multiply-accumulates (mel filterbank and DCT),
  logarithms (one per mel band; one per bin for the log magnitudes an SE model reads),
  square roots (one per bin, magnitude front ends) and outputs (normalise and quantise
  one feature). The SE resynthesis (mask, inverse FFT, overlap-add) is not counted: it
  has no C implementation yet.
* **Latency per hop** = sum(work x the device's ``front_end_cycles``) / clock. The
  Cortex-M figures are fitted to the emulated instruction counts of the exported
  ``ghostrnn_features.c`` over a grid of front ends (``benchmarks/front_end_cost.py
  --write`` refits them and the code sizes in one command).

A profile without ``front_end_cycles`` borrows those of the shipped profile of the same
instruction set (``isa``): cycles are a property of the core, not of the board. A
profile with neither costs the front end's memory but not its time (``latency_ms`` 0).

Example:
    >>> from spaces import ArchConfig
    >>> from cost_models import front_end_cost, load_device
    >>> cost = front_end_cost(ArchConfig(features="mfcc10"), load_device("cortex-m7"))
    >>> cost.table_bytes, cost.state_bytes, cost.work.butterflies, cost.work.macs
    (9276, 5380, 2304, 894)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any, Optional

from spaces import FEATURE_FRONT_ENDS, FEATURE_RECIPES, ArchConfig, FeatureFrontEnd, FeatureRecipe, mel_filterbank

from cost_models._devices import DeviceError, DeviceProfile, FrontEndCycles, load_device

FLOAT_BYTES = 4  # the exported front end computes in single precision
INDEX_BYTES = 2  # uint16 band starts, counts and offsets of the sparse filterbank
SAMPLE_BYTES = 2  # int16 PCM
COUNTER_BYTES = 4  # int32 samples seen (the window fills before the first frame)


@dataclass(frozen=True)
class FrontEndWork:
    """Counted operations of one hop (one frame of features)."""

    samples: int  # window samples slid in and windowed
    fft_points: int  # n_fft: zero padding, bit reversal, real split, power
    butterflies: int  # radix-2 complex butterflies of the n_fft / 2-point FFT
    macs: int  # float multiply-accumulates: mel filterbank weights + DCT
    logs: int  # natural logs (one per mel band)
    roots: int  # square roots (one per bin of a magnitude front end)
    outputs: int  # features normalised and quantised to the model's int16 input

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FrontEndLayout:
    """What a front end is made of, in the numbers its cost depends on."""

    name: str
    kind: str  # mfcc, logmel or magnitude
    dims: int
    window_samples: int
    hop_samples: int
    sample_rate: int
    n_fft: int
    bands: int  # mel bands (0 for magnitude)
    filter_weights: int  # non-zero mel filterbank weights

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def hop_ms(self) -> float:
        return 1000.0 * self.hop_samples / self.sample_rate

    def table_bytes(self) -> int:
        half = self.n_fft // 2
        tables = FLOAT_BYTES * (self.window_samples // 2 + 1)  # half a symmetric Hann window
        tables += FLOAT_BYTES * 2 * half  # cos and sin twiddles
        if self.bands:
            tables += INDEX_BYTES * 3 * self.bands + FLOAT_BYTES * self.filter_weights
        if self.kind == "mfcc":
            tables += FLOAT_BYTES * self.dims * self.bands
        if self.kind == "magnitude":
            tables += FLOAT_BYTES * self.hop_samples  # the overlap-add's inverse window envelope
        return tables + FLOAT_BYTES * 2 * self.dims  # mean and scale per feature

    def state_bytes(self) -> int:
        """The caller-owned ``ghostrnn_features_state``: audio window, FFT buffer, counter."""
        state = SAMPLE_BYTES * self.window_samples + FLOAT_BYTES * self.n_fft + COUNTER_BYTES
        if self.kind == "magnitude":
            state += FLOAT_BYTES * self.hop_samples  # the second half of the last resynthesised frame
        return state

    def stack_bytes(self) -> int:
        """Float mel energies and features of the frame being computed."""
        return FLOAT_BYTES * (self.bands + self.dims)

    def work(self) -> FrontEndWork:
        half = self.n_fft // 2
        return FrontEndWork(
            samples=self.window_samples,
            fft_points=self.n_fft,
            # Speech enhancement also resynthesises each hop: a second, inverse FFT.
            butterflies=(2 if self.kind == "magnitude" else 1) * (half // 2) * int(math.log2(half)),
            macs=self.filter_weights + (self.dims * self.bands if self.kind == "mfcc" else 0),
            # A speech-enhancement model reads log magnitudes (search.data's log_magnitude): a
            # square root and a log per bin.
            logs=self.bins if self.kind == "magnitude" else self.bands,
            roots=self.bins if self.kind == "magnitude" else 0,
            outputs=self.dims,
        )


@dataclass(frozen=True)
class FrontEndCost:
    """The front end of a design on a device: flash, RAM, work and latency per hop."""

    name: str
    kind: str
    table_bytes: int  # const tables (flash)
    code_bytes: int  # its code (flash), from the device profile; 0 where not modelled
    state_bytes: int  # audio window, FFT buffer, counter (RAM, kept between hops)
    stack_bytes: int  # per-frame float vectors (RAM, while a frame is computed)
    work: FrontEndWork
    cycles_per_hop: float
    latency_ms: float  # per hop (one frame of features); 0 when the device has no figures

    @property
    def flash_bytes(self) -> int:
        return self.table_bytes + self.code_bytes

    @property
    def ram_bytes(self) -> int:
        return self.state_bytes + self.stack_bytes

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["flash_bytes"] = self.flash_bytes
        data["ram_bytes"] = self.ram_bytes
        return data


def count_filter_weights(filterbank) -> int:
    """Weights the C front end stores: each band's bins from its first to its last non-zero one."""
    total = 0
    for band in filterbank:
        nonzero = (band > 0).nonzero().flatten()
        if nonzero.numel():
            total += int(nonzero[-1] - nonzero[0]) + 1
    return total


def layout_of(shape: FeatureFrontEnd, recipe: FeatureRecipe) -> FrontEndLayout:
    """The layout of a front end from its shape and recipe (any, not only the shipped ones)."""
    weights = 0
    if recipe.mel_bands:
        weights = count_filter_weights(mel_filterbank(recipe.mel_bands, recipe.n_fft, shape.sample_rate, recipe.f_min, recipe.f_max))
    return FrontEndLayout(
        name=shape.name, kind=recipe.kind, dims=shape.dims, window_samples=shape.window_samples, hop_samples=shape.hop_samples,
        sample_rate=shape.sample_rate, n_fft=recipe.n_fft, bands=recipe.mel_bands, filter_weights=weights,
    )


@functools.lru_cache(maxsize=None)
def _layout(name: str) -> FrontEndLayout:
    # Inside the search loop every trial is costed: build the filterbank once per front end.
    return layout_of(FEATURE_FRONT_ENDS[name], FEATURE_RECIPES[name])


@functools.lru_cache(maxsize=None)
def _borrowed_cycles(isa: str) -> Optional[FrontEndCycles]:
    try:
        return load_device(isa).front_end_cycles
    except DeviceError:  # a user's isa without a shipped profile of that name: nothing to borrow
        return None


def cycles_for(device: DeviceProfile) -> Optional[FrontEndCycles]:
    """The device's front-end cycle figures, or those of the shipped profile of its ``isa``."""
    if device.front_end_cycles is not None:
        return device.front_end_cycles
    return _borrowed_cycles(device.isa) if device.isa else None


def hop_cycles(work: FrontEndWork, cycles: FrontEndCycles) -> float:
    return sum(getattr(work, name) * getattr(cycles, name) for name in FrontEndWork.__dataclass_fields__)


def cost_of_layout(layout: FrontEndLayout, device: DeviceProfile) -> FrontEndCost:
    """Flash, RAM and latency per hop of a front end laid out as ``layout`` on ``device``."""
    work = layout.work()
    cycles = cycles_for(device)
    per_hop = hop_cycles(work, cycles) if cycles is not None else 0.0
    return FrontEndCost(
        name=layout.name,
        kind=layout.kind,
        table_bytes=layout.table_bytes(),
        code_bytes=device.code_bytes.front_end(layout.kind),
        state_bytes=layout.state_bytes(),
        stack_bytes=layout.stack_bytes(),
        work=work,
        cycles_per_hop=per_hop,
        latency_ms=1000.0 * per_hop / device.clock_hz,
    )


def front_end_cost(config: ArchConfig, device: DeviceProfile) -> FrontEndCost:
    """The cost of ``config``'s feature front end (``config.features``) on ``device``."""
    return cost_of_layout(_layout(config.features), device)
