"""A deployable C99 library of a trained design: feature front end + int8 model, streaming.

:func:`write_c_library` writes, into one folder:

* ``ghostrnn_model.h``: the API, sizes, class names, sample rate and hop;
* ``ghostrnn_model.c``: the int8 kernels and the model API (``_codegen``, the same code the
  measured cost model runs in the Cortex-M emulator);
* ``ghostrnn_weights.c``: the const weight arrays and tables;
* ``ghostrnn_features.c``: the front end the model was trained on, in single-precision
  float (framing, periodic Hann window, zero padding to ``n_fft``, a radix-2 real FFT,
  power spectrum, triangular mel filterbank, natural log with floor, orthonormal DCT-II,
  the training-set mean/std normalisation, int16 quantisation at the model's input
  scale), and the streaming wrapper: push one hop of int16 PCM, get class scores; for a
  speech enhancer (``magnitude`` front end: log STFT magnitudes) the hop's mask and the
  enhanced audio (mask x noisy spectrum, inverse FFT, overlap-add as ``torch.istft``);
* ``example_main.c``: reads a 16-bit mono WAV and streams it hop by hop (SE: writes the
  enhanced WAV);
* ``Makefile``: ``make`` builds ``libghostrnn.a`` and the example with ``$(CC)``.

Nothing allocates, state lives in caller-owned structs, and nothing needs libm: the
FFT twiddles, window, filterbank and DCT are const tables computed here, and the log is
a series in the code (float rounding is its error).

The front end is described by :class:`FrontEndSpec` (the caller fills it from its own
feature code; ``search export`` takes it from ``search.data``), so this package does not
depend on the search's data pipeline.

Example:
    >>> import torch
    >>> from spaces import ArchConfig, build_model
    >>> from cost_models.deploy import FrontEndSpec, quantize_model, write_c_library
    >>> config = ArchConfig(hidden=8, frames=49)
    >>> spec = FrontEndSpec("mfcc10", "mfcc", 16000, 640, 320, 1024, torch.ones(40, 513) / 40,
    ...                     torch.eye(10, 40), 1e-6, torch.zeros(10), torch.ones(10))
    >>> files = write_c_library("lib", quantize_model(build_model(config), config), spec, [str(k) for k in range(12)])  # doctest: +SKIP
"""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import torch

from cost_models.deploy._codegen import GENERATOR_VERSION, CSource, generate_c
from cost_models.deploy._quantize import INT16_MAX, QuantizedModel
from cost_models.deploy._toolchain import ToolchainError, host_compiler

LIBRARY_FILES = ("ghostrnn_model.h", "ghostrnn_model.c", "ghostrnn_weights.c", "ghostrnn_features.c", "example_main.c", "Makefile")
CFLAGS = "-std=c99 -O2 -Wall -Wextra -Werror"


class LibraryError(ValueError):
    """A design or front end the C library cannot express."""


@dataclass(frozen=True)
class FrontEndSpec:
    """The numbers behind a feature front end (see ``search.data.compute_features``).

    ``kind`` is ``mfcc`` (log-mel then DCT), ``logmel`` (keyword spotting) or
    ``magnitude`` (speech enhancement: log(|STFT| + log_floor), frames centred as
    ``torch.stft(center=True)`` makes them); ``filterbank`` is the [bands, n_fft // 2 + 1]
    triangular mel matrix (None for magnitude), ``dct`` the [dims, bands] DCT-II matrix
    (None for log-mel and magnitude); ``mean``/``std`` the per-dimension normalisation
    the model was trained with.
    """

    name: str
    kind: str
    sample_rate: int
    window_samples: int
    hop_samples: int
    n_fft: int
    filterbank: Optional[torch.Tensor]
    dct: Optional[torch.Tensor]
    log_floor: float
    mean: torch.Tensor
    std: torch.Tensor

    @property
    def dims(self) -> int:
        return int(self.mean.numel())

    @property
    def bands(self) -> int:
        return int(self.filterbank.shape[0]) if self.filterbank is not None else 0


@dataclass(frozen=True)
class FrontEndFootprint:
    """What the front end stores and keeps per stream (bytes), from the generated tables."""

    table_bytes: int  # const tables in flash: window, twiddles, filterbank, DCT, normalisation
    state_bytes: int  # the audio window and the FFT work buffer (RAM)
    ops_per_frame: dict  # counts per frame: fft_butterflies, mel_macs, dct_macs, logs


def _float_literal(value: float) -> str:
    text = f"{float(value):.9g}"  # 9 significant digits round-trip a float32
    return text + ("f" if any(c in text for c in ".e") else ".0f")


def _floats(name: str, values: Sequence[float], per_line: int = 8) -> str:
    items = [_float_literal(v) for v in values]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return f"static const float {name}[{len(items)}] = {{\n    " + ",\n    ".join(lines) + "\n};\n"


def _ints(ctype: str, name: str, values: Sequence[int], per_line: int = 16) -> str:
    items = [str(int(v)) for v in values]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return f"static const {ctype} {name}[{len(items)}] = {{\n    " + ",\n    ".join(lines) + "\n};\n"


def _sparse_filterbank(filterbank: torch.Tensor) -> tuple[list[int], list[int], list[float]]:
    """Each band's first bin, bin count and weights (the triangles are contiguous)."""
    starts, counts, weights = [], [], []
    for band in filterbank.double():
        nonzero = torch.nonzero(band > 0).flatten()
        if nonzero.numel() == 0:
            starts.append(0)
            counts.append(0)
            continue
        first, last = int(nonzero[0]), int(nonzero[-1])
        starts.append(first)
        counts.append(last - first + 1)
        weights += band[first : last + 1].tolist()
    return starts, counts, weights


def _check(spec: FrontEndSpec, model: QuantizedModel) -> None:
    config = model.config
    kinds = ("mfcc", "logmel") if config.task == "kws" else ("magnitude",)
    if spec.kind not in kinds:
        raise LibraryError(f"front end kind {spec.kind!r} has no C implementation for {config.task} designs ({', '.join(kinds)})")
    if spec.kind == "magnitude" and (spec.window_samples != 2 * spec.hop_samples or spec.n_fft != spec.window_samples or spec.dims != spec.n_fft // 2 + 1):
        raise LibraryError(f"the speech-enhancement front end needs window = n_fft = 2 x hop and n_fft / 2 + 1 bins (got window {spec.window_samples}, hop {spec.hop_samples}, n_fft {spec.n_fft}, {spec.dims} bins)")
    if spec.n_fft & (spec.n_fft - 1) or spec.n_fft < 8:
        raise LibraryError(f"n_fft {spec.n_fft} is not a power of two")
    if spec.window_samples % spec.hop_samples or spec.window_samples > spec.n_fft:
        raise LibraryError(f"window {spec.window_samples} must be a multiple of the hop {spec.hop_samples} and at most n_fft {spec.n_fft}")
    if spec.dims != config.input_size:
        raise LibraryError(f"the front end gives {spec.dims} values per frame, the model takes {config.input_size}")


def front_end_footprint(spec: FrontEndSpec) -> FrontEndFootprint:
    """Flash of the front end's const tables and RAM of its per-stream state, in bytes.

    The analytic cost model's layout (``cost_models.FrontEndLayout``) of this spec, so the
    library and the search count the same bytes.
    """
    from cost_models import FrontEndLayout

    weights = _sparse_filterbank(spec.filterbank)[2] if spec.filterbank is not None else []
    layout = FrontEndLayout(
        spec.name, spec.kind, spec.dims, spec.window_samples, spec.hop_samples, spec.sample_rate, spec.n_fft, spec.bands, len(weights)
    )
    work = layout.work()
    dct_macs = spec.dct.numel() if spec.dct is not None else 0
    return FrontEndFootprint(layout.table_bytes(), layout.state_bytes(), {"fft_butterflies": work.butterflies, "mel_macs": len(weights), "dct_macs": dct_macs, "logs": work.logs, "square_roots": work.roots})


def _features_c(spec: FrontEndSpec, model: QuantizedModel) -> str:
    n, half, window, hop = spec.n_fft, spec.n_fft // 2, spec.window_samples, spec.hop_samples
    magnitude = spec.kind == "magnitude"
    k = torch.arange(half, dtype=torch.float64)
    cos_table = torch.cos(2 * math.pi * k / n).tolist()
    sin_table = torch.sin(2 * math.pi * k / n).tolist()
    # Periodic Hann, as torch.hann_window(periodic=True): w[j] = w[window - j].
    hann64 = 0.5 - 0.5 * torch.cos(2 * math.pi * torch.arange(window + 1, dtype=torch.float64) / window)
    hann = hann64[: window // 2 + 1].tolist()
    scale = (1.0 / (spec.std.double() * model.input_scale)).tolist()
    dims, bands = spec.dims, spec.bands
    if magnitude:
        what = f" * {window}-sample periodic Hann window every {hop} samples (centred frames), {n}-point real FFT,\n * log(|X| + {spec.log_floor:g})"
    else:
        what = (
            f" * {window}-sample periodic Hann window every {hop} samples, zero-padded to a {n}-point real FFT,\n"
            f" * power spectrum, {bands} mel bands, log(x + {spec.log_floor:g})" + (f", DCT-II to {dims} coefficients" if spec.kind == "mfcc" else "")
        )
    parts = [
        f"/* Feature front end '{spec.name}' of the exported design, generated by ghostrnn-search (generator {GENERATOR_VERSION}).\n"
        + what
        + ",\n * (x - mean) / std, int16 at the model's input scale. Single-precision float; tables are const. */\n",
        '#include "ghostrnn_model.h"\n\n',
        _floats("grnn_hann", hann),
        _floats("grnn_cos", cos_table),
        _floats("grnn_sin", sin_table),
    ]
    if magnitude:
        # torch.istft divides the overlap-added frames by the summed squared window; with a
        # window of two hops every output sample gets two frames: w[j]^2 + w[j + hop]^2.
        envelope = hann64[:hop] ** 2 + hann64[hop : 2 * hop] ** 2
        parts.append(_floats("grnn_inverse_envelope", (1.0 / envelope).tolist()))
    else:
        starts, counts, weights = _sparse_filterbank(spec.filterbank)
        offsets = [sum(counts[:band]) for band in range(bands)]
        parts += [
            _ints("uint16_t", "grnn_mel_start", starts),
            _ints("uint16_t", "grnn_mel_count", counts),
            _ints("uint16_t", "grnn_mel_offset", offsets),
            _floats("grnn_mel_weight", weights),
        ]
    if spec.kind == "mfcc":
        parts.append(_floats("grnn_dct", spec.dct.double().reshape(-1).tolist()))
    parts += [_floats("grnn_mean", spec.mean.double().tolist()), _floats("grnn_scale", scale)]
    parts.append(
        f"""
/* Natural log of x > 0 without libm: x = m 2^e with m in [sqrt(1/2), sqrt(2)), and
 * ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, by its series to s^9
 * (truncation below 1e-8: float rounding dominates). */
static float grnn_logf(float x) {{
    union {{
        float f;
        uint32_t u;
    }} v;
    v.f = x;
    int e = (int)((v.u >> 23) & 255u) - 127;
    v.u = (v.u & 0x007FFFFFu) | 0x3F800000u;
    float m = v.f;
    if (m > 1.41421356f) {{
        m *= 0.5f;
        e += 1;
    }}
    float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    float series = s * (2.0f + s2 * (0.666666667f + s2 * (0.4f + s2 * (0.285714286f + s2 * 0.222222222f))));
    return (float)e * 0.693147181f + series;
}}

/* In-place radix-2 FFT of {half} complex points (interleaved re, im). */
static void fft_half(float *z) {{
    for (int i = 1, j = 0; i < {half}; i++) {{
        int bit = {half} >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {{
            float re = z[2 * i], im = z[2 * i + 1];
            z[2 * i] = z[2 * j];
            z[2 * i + 1] = z[2 * j + 1];
            z[2 * j] = re;
            z[2 * j + 1] = im;
        }}
    }}
    for (int len = 2; len <= {half}; len <<= 1) {{
        int step = {n} / len; /* exp(-2 pi i k / len) = table entry k * step */
        for (int start = 0; start < {half}; start += len) {{
            for (int k = 0; k < len / 2; k++) {{
                float wr = grnn_cos[k * step], wi = -grnn_sin[k * step];
                float *a = z + 2 * (start + k), *b = z + 2 * (start + k + len / 2);
                float tr = b[0] * wr - b[1] * wi, ti = b[0] * wi + b[1] * wr;
                b[0] = a[0] - tr;
                b[1] = a[1] - ti;
                a[0] += tr;
                a[1] += ti;
            }}
        }}
    }}
}}

/* Spectrum of {n} real samples in work (overwritten), packed: X[0] in work[0], X[{half}]
 * in work[1] (both real), X[k] = work[2k] + i work[2k + 1] for 0 < k < {half}. The real
 * input is read as {half} complex points and split into its spectrum afterwards. */
static void real_fft(float *work) {{
    fft_half(work);
    float re0 = work[0], im0 = work[1];
    work[0] = re0 + im0;
    work[1] = re0 - im0;
    for (int k = 1; k <= {half} / 2; k++) {{
        int m = {half} - k;
        float zr = work[2 * k], zi = work[2 * k + 1], cr = work[2 * m], ci = work[2 * m + 1];
        /* X[k] = E + W^k O with E = (Z[k] + conj Z[m]) / 2, O = (Z[k] - conj Z[m]) / 2i;
         * X[m] the same with k and m swapped. */
        float er = 0.5f * (zr + cr), ei = 0.5f * (zi - ci);
        float or_ = 0.5f * (zi + ci), oi = -0.5f * (zr - cr);
        float wr = grnn_cos[k], wi = -grnn_sin[k];
        float er2 = 0.5f * (cr + zr), ei2 = 0.5f * (ci - zi);
        float or2 = 0.5f * (ci + zi), oi2 = -0.5f * (cr - zr);
        float wr2 = grnn_cos[m], wi2 = -grnn_sin[m];
        work[2 * k] = er + wr * or_ - wi * oi;
        work[2 * k + 1] = ei + wr * oi + wi * or_;
        work[2 * m] = er2 + wr2 * or2 - wi2 * oi2;
        work[2 * m + 1] = ei2 + wr2 * oi2 + wi2 * or2;
    }}
}}
"""
    )
    window_in = f"""    for (int j = 0; j < {window}; j++) {{
        float w = grnn_hann[j <= {window // 2} ? j : {window} - j];
        work[j] = w * (float)window[j] * (1.0f / 32768.0f);
    }}
    for (int j = {window}; j < {n}; j++) work[j] = 0.0f;
    real_fft(work);
"""
    if magnitude:
        parts.append(
            f"""
/* Square root of x >= 0 without libm: an exponent-halving first guess, then Newton steps
 * (each doubles the correct bits: 4 reach float precision). */
static float grnn_sqrtf(float x) {{
    if (x <= 0.0f) return 0.0f;
    union {{
        float f;
        uint32_t u;
    }} v;
    v.f = x;
    v.u = (v.u >> 1) + 0x1FC00000u;
    float r = v.f;
    for (int i = 0; i < 4; i++) r = 0.5f * (r + x / r);
    return r;
}}

/* The inverse of real_fft: a packed spectrum in work becomes {n} real samples (the inverse
 * DFT, with its 1/{n}). Z[k] = E + i O with E = (X[k] + conj X[m]) / 2 and
 * O = conj(W^k) (X[k] - conj X[m]) / 2 is the spectrum of the samples read as {half}
 * complex points; its inverse FFT is conj(fft(conj Z)) / {half}. */
static void inverse_real_fft(float *work) {{
    float x0 = work[0], xh = work[1];
    work[0] = 0.5f * (x0 + xh);
    work[1] = 0.5f * (xh - x0); /* conj: -(x0 - xh) / 2 */
    for (int k = 1; k <= {half} / 2; k++) {{
        int m = {half} - k;
        float ar = work[2 * k], ai = work[2 * k + 1], br = work[2 * m], bi = work[2 * m + 1];
        float er = 0.5f * (ar + br), ei = 0.5f * (ai - bi), dr = 0.5f * (ar - br), di = 0.5f * (ai + bi);
        float or_ = dr * grnn_cos[k] - di * grnn_sin[k], oi = dr * grnn_sin[k] + di * grnn_cos[k];
        float er2 = 0.5f * (br + ar), ei2 = 0.5f * (bi - ai), dr2 = 0.5f * (br - ar), di2 = 0.5f * (bi + ai);
        float or2 = dr2 * grnn_cos[m] - di2 * grnn_sin[m], oi2 = dr2 * grnn_sin[m] + di2 * grnn_cos[m];
        work[2 * k] = er - oi;
        work[2 * k + 1] = -(ei + or_);
        work[2 * m] = er2 - oi2;
        work[2 * m + 1] = -(ei2 + or2);
    }}
    fft_half(work); /* of conj Z: the imaginary parts were negated above */
    for (int j = 0; j < {half}; j++) {{
        work[2 * j] *= {_float_literal(1.0 / half)};
        work[2 * j + 1] *= {_float_literal(-1.0 / half)};
    }}
}}

void ghostrnn_features_compute(const int16_t *window, float *work, float *features) {{
{window_in}    features[0] = grnn_logf((work[0] < 0.0f ? -work[0] : work[0]) + {_float_literal(spec.log_floor)});
    features[{half}] = grnn_logf((work[1] < 0.0f ? -work[1] : work[1]) + {_float_literal(spec.log_floor)});
    for (int b = 1; b < {half}; b++) {{
        float re = work[2 * b], im = work[2 * b + 1];
        features[b] = grnn_logf(grnn_sqrtf(re * re + im * im) + {_float_literal(spec.log_floor)});
    }}
}}
"""
        )
    else:
        dct_block = (
            f"""    for (int d = 0; d < {dims}; d++) {{
        const float *row = grnn_dct + d * {bands};
        float acc = 0.0f;
        for (int b = 0; b < {bands}; b++) acc += row[b] * mel[b];
        features[d] = acc;
    }}
"""
            if spec.kind == "mfcc"
            else f"    for (int d = 0; d < {dims}; d++) features[d] = mel[d];\n"
        )
        parts.append(
            f"""
void ghostrnn_features_compute(const int16_t *window, float *work, float *features) {{
{window_in}    /* Power spectrum in place: power[k] in work[2k] for 0 <= k < {half}, power[{half}] in work[1]. */
    work[0] = work[0] * work[0];
    work[1] = work[1] * work[1];
    for (int k = 1; k < {half}; k++) work[2 * k] = work[2 * k] * work[2 * k] + work[2 * k + 1] * work[2 * k + 1];
    float mel[{bands}];
    for (int b = 0; b < {bands}; b++) {{
        const float *weight = grnn_mel_weight + grnn_mel_offset[b];
        int first = grnn_mel_start[b];
        float acc = 0.0f;
        for (int i = 0; i < grnn_mel_count[b]; i++) {{
            int bin = first + i;
            acc += weight[i] * (bin == {half} ? work[1] : work[2 * bin]);
        }}
        mel[b] = grnn_logf(acc + {_float_literal(spec.log_floor)});
    }}
{dct_block}}}
"""
        )
    # Centred frames (SE): the window starts as if half a window of zeros had been pushed,
    # so the first hop already gives a frame (torch.stft(center=True) pads the same zeros).
    initial = window - hop if magnitude else 0
    parts.append(
        f"""
void ghostrnn_features_quantize(const float *features, int16_t *frame) {{
    for (int d = 0; d < {dims}; d++) {{
        float v = (features[d] - grnn_mean[d]) * grnn_scale[d];
        v = v > {INT16_MAX}.0f ? {INT16_MAX}.0f : (v < -32768.0f ? -32768.0f : v);
        frame[d] = (int16_t)(v >= 0.0f ? (int32_t)(v + 0.5f) : -(int32_t)(-v + 0.5f));
    }}
}}

void ghostrnn_features_reset(ghostrnn_features_state *fs) {{
    for (int j = 0; j < {window}; j++) fs->window[j] = 0;
    fs->samples = {initial};
}}

int ghostrnn_features_push(ghostrnn_features_state *fs, const int16_t *hop, int16_t *frame) {{
    for (int j = 0; j < {window - hop}; j++) fs->window[j] = fs->window[j + {hop}];
    for (int j = 0; j < {hop}; j++) fs->window[{window - hop} + j] = hop[j];
    if (fs->samples < {window}) fs->samples += {hop};
    if (fs->samples < {window}) return 0;
    float features[{dims}];
    ghostrnn_features_compute(fs->window, fs->work, features);
    ghostrnn_features_quantize(features, frame);
    return 1;
}}
"""
    )
    if magnitude:
        parts.append(
            f"""
void ghostrnn_se_reset(ghostrnn_se *se) {{
    ghostrnn_features_reset(&se->features);
    ghostrnn_reset(&se->model);
    for (int j = 0; j < {hop}; j++) se->overlap[j] = 0.0f;
    se->frames = 0;
}}

int ghostrnn_se_push(ghostrnn_se *se, const int16_t *hop, int16_t *mask, int16_t *enhanced) {{
    float *work = se->features.work;
    ghostrnn_features_push(&se->features, hop, se->frame); /* leaves the noisy spectrum in work */
    ghostrnn_step(&se->model, se->frame);
    ghostrnn_output(&se->model, mask);
    /* The mask (Q0.15) times the noisy spectrum, noisy phase kept; back to samples. */
    work[0] *= (float)mask[0] * (1.0f / 32768.0f);
    work[1] *= (float)mask[{half}] * (1.0f / 32768.0f);
    for (int k = 1; k < {half}; k++) {{
        float gain = (float)mask[k] * (1.0f / 32768.0f);
        work[2 * k] *= gain;
        work[2 * k + 1] *= gain;
    }}
    inverse_real_fft(work);
    /* Overlap-add with the window, divided by the squared-window envelope (torch.istft). */
    for (int j = 0; j < {hop}; j++) {{
        float sample = (se->overlap[j] + work[j] * grnn_hann[j]) * grnn_inverse_envelope[j] * 32768.0f;
        sample = sample > {INT16_MAX}.0f ? {INT16_MAX}.0f : (sample < -32768.0f ? -32768.0f : sample);
        enhanced[j] = (int16_t)(sample >= 0.0f ? (int32_t)(sample + 0.5f) : -(int32_t)(-sample + 0.5f));
        se->overlap[j] = work[{hop} + j] * grnn_hann[{hop} - j];
    }}
    se->frames++;
    return se->frames > 1; /* the first frame's first half is the zeros before the stream */
}}
"""
        )
    else:
        parts.append(
            """
void ghostrnn_kws_reset(ghostrnn_kws *kws) {
    ghostrnn_features_reset(&kws->features);
    ghostrnn_reset(&kws->model);
    kws->frames = 0;
}

int ghostrnn_kws_push(ghostrnn_kws *kws, const int16_t *hop, int32_t *scores) {
    if (!ghostrnn_features_push(&kws->features, hop, kws->frame)) return 0;
    ghostrnn_step(&kws->model, kws->frame);
    kws->frames++;
    ghostrnn_output(&kws->model, scores);
    return 1;
}
"""
        )
    return "".join(parts)


_FRONT_END_API = """
/* The front end's audio window and FFT work buffer (caller-owned). */
typedef struct ghostrnn_features_state {{
    int16_t window[GHOSTRNN_WINDOW_SAMPLES];
    int32_t samples;
    float work[{n_fft}];
}} ghostrnn_features_state;

void ghostrnn_features_reset(ghostrnn_features_state *fs);
/* Push one hop (GHOSTRNN_HOP_SAMPLES int16 samples); returns 1 and writes the model's
 * int16 input frame once a full window has been seen, else 0. */
int ghostrnn_features_push(ghostrnn_features_state *fs, const int16_t *hop, int16_t *frame);
/* Float features of one window (before normalisation); work holds {n_fft} floats. */
void ghostrnn_features_compute(const int16_t *window, float *work, float *features);
/* Normalise (training mean/std) and quantise float features to the model's int16 input. */
void ghostrnn_features_quantize(const float *features, int16_t *frame);
"""


def _se_header_extra(spec: FrontEndSpec, model: QuantizedModel) -> str:
    return (
        f"""
/* ---- streaming speech enhancement: noisy audio in, mask and enhanced audio out ---- */

#define GHOSTRNN_SAMPLE_RATE {spec.sample_rate}
#define GHOSTRNN_WINDOW_SAMPLES {spec.window_samples}
#define GHOSTRNN_HOP_SAMPLES {spec.hop_samples}
#define GHOSTRNN_FEATURES {spec.dims}
/* Frequency bins of the mask (one per STFT bin, Q0.15: 32768 = 1). */
#define GHOSTRNN_BINS {model.config.output_size}
"""
        + _FRONT_END_API.format(n_fft=spec.n_fft)
        + f"""
/* Front end + model + overlap-add resynthesis for one audio stream. */
typedef struct ghostrnn_se {{
    ghostrnn_features_state features;
    ghostrnn_state model;
    int16_t frame[GHOSTRNN_FEATURES];
    float overlap[GHOSTRNN_HOP_SAMPLES];
    int32_t frames;
}} ghostrnn_se;

/* Start a new stream: clear the audio window, the recurrent state and the overlap. */
void ghostrnn_se_reset(ghostrnn_se *se);
/* Push one hop of noisy audio; writes the hop's mask (GHOSTRNN_BINS values) and, from the
 * second hop on, returns 1 with GHOSTRNN_HOP_SAMPLES enhanced samples: those of the hop
 * before (the overlap-add needs the next frame), so output lags input by one hop. After
 * the last hop push one hop of zeros to get the stream's last samples. */
int ghostrnn_se_push(ghostrnn_se *se, const int16_t *hop, int16_t *mask, int16_t *enhanced);
"""
    )


def _header(spec: FrontEndSpec, model: QuantizedModel, source: CSource, description: str) -> str:
    config = model.config
    extra = _se_header_extra(spec, model) if config.task == "se" else _kws_header_extra(spec, model)
    header = source.header("GHOSTRNN_MODEL_H", extra)
    return f"/* {description}\n * Generated by ghostrnn-search (generator {GENERATOR_VERSION}); see README.md, 'Deploy to a microcontroller'. */\n" + header


def _kws_header_extra(spec: FrontEndSpec, model: QuantizedModel) -> str:
    config = model.config
    frames = config.frames
    hops = frames - 1 + spec.window_samples // spec.hop_samples
    extra = f"""
/* ---- streaming keyword spotting: audio in, class scores out ----------------------- */

#define GHOSTRNN_SAMPLE_RATE {spec.sample_rate}
#define GHOSTRNN_WINDOW_SAMPLES {spec.window_samples}
#define GHOSTRNN_HOP_SAMPLES {spec.hop_samples}
#define GHOSTRNN_FEATURES {spec.dims}
/* Frames per utterance the model was trained on, and the hops of audio that fill them. */
#define GHOSTRNN_FRAMES {frames}
#define GHOSTRNN_UTTERANCE_HOPS {hops}
#define GHOSTRNN_CLASSES {config.output_size}
/* A float logit is score * GHOSTRNN_LOGIT_SCALE (the order of the scores is the same). */
#define GHOSTRNN_LOGIT_SCALE {model.head.output_scale!r}f

extern const char *const ghostrnn_class_names[GHOSTRNN_CLASSES];
{_FRONT_END_API.format(n_fft=spec.n_fft)}
/* Front end + model for one audio stream. */
typedef struct ghostrnn_kws {{
    ghostrnn_features_state features;
    ghostrnn_state model;
    int16_t frame[GHOSTRNN_FEATURES];
    int32_t frames;
}} ghostrnn_kws;

/* Start a new utterance: clear the audio window and the recurrent state. */
void ghostrnn_kws_reset(ghostrnn_kws *kws);
/* Push one hop; returns 1 and writes GHOSTRNN_CLASSES scores when a frame was processed.
 * GHOSTRNN_UTTERANCE_HOPS hops after a reset the scores are exactly the model's logits
 * for that 1 s utterance; in between they are its running decision. */
int ghostrnn_kws_push(ghostrnn_kws *kws, const int16_t *hop, int32_t *scores);
"""
    return extra


_WAV_READER = r"""static unsigned read_u32(const unsigned char *p) { return p[0] | (p[1] << 8) | ((unsigned)p[2] << 16) | ((unsigned)p[3] << 24); }
static unsigned read_u16(const unsigned char *p) { return p[0] | (p[1] << 8); }

/* Opens a 16-bit mono PCM WAV at the model's rate, positioned at its samples; on any other
 * file prints why and returns NULL. *data_bytes (if given) gets the data chunk's size. */
static FILE *open_wav(const char *path, unsigned *data_bytes) {
    FILE *file = fopen(path, "rb");
    if (!file) {
        fprintf(stderr, "error: cannot open %s\n", path);
        return NULL;
    }
    unsigned char head[12], chunk[8];
    if (fread(head, 1, 12, file) != 12 || memcmp(head, "RIFF", 4) || memcmp(head + 8, "WAVE", 4)) {
        fprintf(stderr, "error: %s is not a RIFF/WAVE file\n", path);
        fclose(file);
        return NULL;
    }
    unsigned channels = 0, rate = 0, bits = 0;
    for (;;) {
        if (fread(chunk, 1, 8, file) != 8) {
            fprintf(stderr, "error: no data chunk in %s\n", path);
            fclose(file);
            return NULL;
        }
        unsigned size = read_u32(chunk + 4);
        if (!memcmp(chunk, "fmt ", 4)) {
            unsigned char fmt[64];
            if (size > sizeof fmt || fread(fmt, 1, size, file) != size) {
                fprintf(stderr, "error: %s has a malformed fmt chunk\n", path);
                fclose(file);
                return NULL;
            }
            channels = read_u16(fmt + 2);
            rate = read_u32(fmt + 4);
            bits = read_u16(fmt + 14);
        } else if (!memcmp(chunk, "data", 4)) {
            if (data_bytes) *data_bytes = size;
            break;
        } else {
            fseek(file, (long)(size + (size & 1)), SEEK_CUR);
        }
    }
    if (channels != 1 || bits != 16 || rate != GHOSTRNN_SAMPLE_RATE) {
        fprintf(stderr, "error: need 16-bit mono PCM at %d Hz, got %u channel(s), %u bits, %u Hz\n", GHOSTRNN_SAMPLE_RATE, channels, bits, rate);
        fclose(file);
        return NULL;
    }
    return file;
}
"""

_EXAMPLE = r"""/* Stream a 16-bit mono WAV through the exported keyword spotter, hop by hop.
 * Usage: ./example clip.wav [--every-hop]   (prints the class after each full utterance) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ghostrnn_model.h"

%WAV_READER%
static int best_class(const int32_t *scores) {
    int best = 0;
    for (int k = 1; k < GHOSTRNN_CLASSES; k++) if (scores[k] > scores[best]) best = k;
    return best;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s clip.wav [--every-hop]\n", argv[0]);
        return 2;
    }
    int every_hop = argc > 2 && strcmp(argv[2], "--every-hop") == 0;
    FILE *file = open_wav(argv[1], NULL);
    if (!file) return 2;
    static ghostrnn_kws kws; /* about 10 KB: keep it off the stack */
    ghostrnn_kws_reset(&kws);
    int16_t hop[GHOSTRNN_HOP_SAMPLES];
    int32_t scores[GHOSTRNN_CLASSES];
    long hops = 0;
    unsigned char raw[2 * GHOSTRNN_HOP_SAMPLES];
    size_t got;
    while ((got = fread(raw, 2, GHOSTRNN_HOP_SAMPLES, file)) > 0) {
        for (size_t k = 0; k < GHOSTRNN_HOP_SAMPLES; k++) hop[k] = k < got ? (int16_t)read_u16(raw + 2 * k) : 0;
        hops++;
        if (!ghostrnn_kws_push(&kws, hop, scores)) continue;
        if (every_hop) printf("hop %ld: %s\n", hops, ghostrnn_class_names[best_class(scores)]);
        if (kws.frames == GHOSTRNN_FRAMES) {
            int best = best_class(scores);
            printf("%.3f s: %s", (double)hops * GHOSTRNN_HOP_SAMPLES / GHOSTRNN_SAMPLE_RATE, ghostrnn_class_names[best]);
            for (int k = 0; k < GHOSTRNN_CLASSES; k++) printf(" %ld", (long)scores[k]);
            printf("\n");
            ghostrnn_kws_reset(&kws);
        }
    }
    fclose(file);
    return 0;
}
"""

_SE_EXAMPLE = r"""/* Stream a noisy 16-bit mono WAV through the exported speech enhancer, hop by hop.
 * Usage: ./example noisy.wav [enhanced.wav]
 * Writes the enhanced audio as a WAV (same length), or without a second argument prints
 * each hop's mask statistics (mean, min, max over the bins; 1 = pass, 0 = remove). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ghostrnn_model.h"

%WAV_READER%static void put_u32(unsigned char *p, unsigned v) { for (int k = 0; k < 4; k++) p[k] = (unsigned char)(v >> (8 * k)); }
static void put_u16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }

static void write_wav_header(FILE *out, unsigned samples) {
    unsigned char h[44];
    memcpy(h, "RIFF", 4);
    put_u32(h + 4, 36 + 2 * samples);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_u32(h + 16, 16);
    put_u16(h + 20, 1);
    put_u16(h + 22, 1);
    put_u32(h + 24, GHOSTRNN_SAMPLE_RATE);
    put_u32(h + 28, 2 * GHOSTRNN_SAMPLE_RATE);
    put_u16(h + 32, 2);
    put_u16(h + 34, 16);
    memcpy(h + 36, "data", 4);
    put_u32(h + 40, 2 * samples);
    fwrite(h, 1, 44, out);
}

static void write_samples(FILE *out, const int16_t *samples, unsigned count) {
    unsigned char raw[2 * GHOSTRNN_HOP_SAMPLES];
    for (unsigned k = 0; k < count; k++) put_u16(raw + 2 * k, (unsigned)(uint16_t)samples[k]);
    fwrite(raw, 2, count, out);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s noisy.wav [enhanced.wav]\n", argv[0]);
        return 2;
    }
    unsigned data_bytes = 0;
    FILE *file = open_wav(argv[1], &data_bytes);
    if (!file) return 2;
    FILE *out = NULL;
    unsigned total = data_bytes / 2, written = 0;
    if (argc > 2) {
        out = fopen(argv[2], "wb");
        if (!out) {
            fprintf(stderr, "error: cannot write %s\n", argv[2]);
            return 2;
        }
        write_wav_header(out, total);
    }
    static ghostrnn_se se; /* a few KB: keep it off the stack */
    ghostrnn_se_reset(&se);
    int16_t hop[GHOSTRNN_HOP_SAMPLES], enhanced[GHOSTRNN_HOP_SAMPLES], mask[GHOSTRNN_BINS];
    unsigned char raw[2 * GHOSTRNN_HOP_SAMPLES];
    long hops = 0;
    double mask_sum = 0.0;
    for (int last = 0; !last;) {
        size_t got = fread(raw, 2, GHOSTRNN_HOP_SAMPLES, file);
        last = got == 0; /* after the audio, one hop of zeros gives its last samples */
        for (size_t k = 0; k < GHOSTRNN_HOP_SAMPLES; k++) hop[k] = k < got ? (int16_t)read_u16(raw + 2 * k) : 0;
        int ready = ghostrnn_se_push(&se, hop, mask, enhanced);
        long sum = 0;
        int low = 32767, high = 0;
        for (int k = 0; k < GHOSTRNN_BINS; k++) {
            sum += mask[k];
            if (mask[k] < low) low = mask[k];
            if (mask[k] > high) high = mask[k];
        }
        double mean = (double)sum / GHOSTRNN_BINS / 32768.0;
        mask_sum += mean;
        hops++;
        if (!out) printf("hop %ld: mask mean %.3f min %.3f max %.3f\n", hops, mean, low / 32768.0, high / 32768.0);
        if (ready && out && written < total) {
            unsigned count = total - written < GHOSTRNN_HOP_SAMPLES ? total - written : GHOSTRNN_HOP_SAMPLES;
            write_samples(out, enhanced, count);
            written += count;
        }
    }
    fclose(file);
    if (out) {
        fclose(out);
        printf("wrote %u enhanced samples to %s (%ld hops, mean mask %.3f)\n", written, argv[2], hops, mask_sum / hops);
    }
    return 0;
}
"""

# Both examples read their input with the one WAV reader.
_EXAMPLE, _SE_EXAMPLE = (text.replace("%WAV_READER%", _WAV_READER) for text in (_EXAMPLE, _SE_EXAMPLE))

_MAKEFILE = """# Build the exported keyword spotter: `make` (host), or e.g.
#   make CC=arm-none-eabi-gcc CFLAGS="-mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard -O2 -std=c99" libghostrnn.a
CC ?= cc
CFLAGS ?= {cflags}
AR ?= ar

OBJECTS = ghostrnn_model.o ghostrnn_weights.o ghostrnn_features.o

all: example

libghostrnn.a: $(OBJECTS)
\t$(AR) rcs $@ $(OBJECTS)

%.o: %.c ghostrnn_model.h
\t$(CC) $(CFLAGS) -c $< -o $@

example: example_main.c libghostrnn.a
\t$(CC) $(CFLAGS) example_main.c libghostrnn.a -o $@

clean:
\trm -f $(OBJECTS) libghostrnn.a example

.PHONY: all clean
"""


def write_c_library(
    directory: Union[str, Path],
    model: QuantizedModel,
    spec: FrontEndSpec,
    class_names: Sequence[str],
    description: str = "",
) -> list[Path]:
    """Write the C library of a quantised design and its front end; returns the files.

    ``class_names``: the KWS classes in output order (unused for SE).
    """
    _check(spec, model)
    config = model.config
    if config.task == "kws" and len(class_names) != config.output_size:
        raise LibraryError(f"{len(class_names)} class names for {config.output_size} outputs")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    source = generate_c(model)
    kind = "keyword spotter" if config.task == "kws" else "speech enhancer"
    description = description or f"GhostRNN {kind}: {config.describe()}, front end {spec.name}"
    names = ",\n    ".join('"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"' for name in class_names)
    class_table = f"\nconst char *const ghostrnn_class_names[GHOSTRNN_CLASSES] = {{\n    {names}\n}};\n" if config.task == "kws" else ""
    texts = {
        "ghostrnn_model.h": _header(spec, model, source, description),
        "ghostrnn_model.c": source.comment + '#include "ghostrnn_model.h"\n\n' + source.weight_declarations + source.implementation,
        "ghostrnn_weights.c": (
            f"/* Weights and tables of the exported design (const: flash). {description} */\n"
            '#include "ghostrnn_model.h"\n\n'
            + source.weight_declarations
            + "\n"
            + source.weights
            + class_table
        ),
        "ghostrnn_features.c": _features_c(spec, model),
        "example_main.c": _EXAMPLE if config.task == "kws" else _SE_EXAMPLE,
        "Makefile": _MAKEFILE.format(cflags=CFLAGS),
    }
    written = []
    for name in LIBRARY_FILES:
        path = directory / name
        path.write_text(texts[name], encoding="utf-8")
        written.append(path)
    return written


# A host program that drives the library for checks: reads int32 (clips, per-clip count)
# and int16 data from stdin, writes results to stdout.
#   model:    count frames per clip -> GHOSTRNN_CLASSES int32 logits (ghostrnn_run)
#   features: count samples per clip -> float features of every frame (streamed, before
#             normalisation)
#   stream:   count samples per clip -> int32 scores after the last hop (ghostrnn_kws_push)
_DRIVER = r"""#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ghostrnn_model.h"

int main(int argc, char **argv) {
    int32_t head[2];
    if (argc < 2 || fread(head, 4, 2, stdin) != 2) return 2;
    int32_t clips = head[0], count = head[1];
    size_t values = strcmp(argv[1], "model") == 0 ? (size_t)count * GHOSTRNN_FEATURES : (size_t)count;
    int16_t *data = malloc(values * sizeof(int16_t));
    static ghostrnn_state state;
    static ghostrnn_kws kws;
    int32_t scores[GHOSTRNN_CLASSES];
    float features[GHOSTRNN_FEATURES];
    int16_t frame[GHOSTRNN_FEATURES];
    for (int32_t c = 0; c < clips; c++) {
        if (fread(data, sizeof(int16_t), values, stdin) != values) return 3;
        if (strcmp(argv[1], "model") == 0) {
            ghostrnn_run(&state, data, count, scores);
            fwrite(scores, 4, GHOSTRNN_CLASSES, stdout);
        } else if (strcmp(argv[1], "features") == 0) {
            ghostrnn_features_reset(&kws.features);
            for (int32_t at = 0; at + GHOSTRNN_HOP_SAMPLES <= count; at += GHOSTRNN_HOP_SAMPLES) {
                if (ghostrnn_features_push(&kws.features, data + at, frame)) {
                    ghostrnn_features_compute(kws.features.window, kws.features.work, features);
                    fwrite(features, 4, GHOSTRNN_FEATURES, stdout);
                }
            }
        } else {
            ghostrnn_kws_reset(&kws);
            for (int32_t at = 0; at + GHOSTRNN_HOP_SAMPLES <= count; at += GHOSTRNN_HOP_SAMPLES) {
                ghostrnn_kws_push(&kws, data + at, scores);
            }
            fwrite(scores, 4, GHOSTRNN_CLASSES, stdout);
        }
    }
    free(data);
    return 0;
}
"""


# The same for a speech enhancer (all outputs as int32):
#   model:    count frames per clip -> count x GHOSTRNN_BINS masks (ghostrnn_run)
#   features: count samples per clip -> float features of every hop's frame (centred)
#   stream:   count samples per clip -> count enhanced samples (ghostrnn_se_push, then
#             one hop of zeros)
#   masks:    count samples per clip -> the mask of each of those ceil(count / hop) + 1 pushes
_SE_DRIVER = r"""#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ghostrnn_model.h"

int main(int argc, char **argv) {
    int32_t head[2];
    if (argc < 2 || fread(head, 4, 2, stdin) != 2) return 2;
    int32_t clips = head[0], count = head[1];
    int model = strcmp(argv[1], "model") == 0;
    size_t values = model ? (size_t)count * GHOSTRNN_FEATURES : (size_t)count;
    int16_t *data = malloc(values * sizeof(int16_t));
    int16_t *masks = malloc(((size_t)count + 1) * GHOSTRNN_BINS * sizeof(int16_t));
    int32_t *wide = malloc(((size_t)count + 1) * GHOSTRNN_BINS * sizeof(int32_t));
    static ghostrnn_state state;
    static ghostrnn_se se;
    float features[GHOSTRNN_FEATURES];
    int16_t frame[GHOSTRNN_FEATURES], hop[GHOSTRNN_HOP_SAMPLES], enhanced[GHOSTRNN_HOP_SAMPLES];
    for (int32_t c = 0; c < clips; c++) {
        if (fread(data, sizeof(int16_t), values, stdin) != values) return 3;
        size_t produced = 0;
        if (model) {
            ghostrnn_run(&state, data, count, masks);
            for (size_t k = 0; k < (size_t)count * GHOSTRNN_BINS; k++) wide[produced++] = masks[k];
        } else if (strcmp(argv[1], "features") == 0) {
            ghostrnn_features_reset(&se.features);
            for (int32_t at = 0; at + GHOSTRNN_HOP_SAMPLES <= count; at += GHOSTRNN_HOP_SAMPLES) {
                if (ghostrnn_features_push(&se.features, data + at, frame)) {
                    ghostrnn_features_compute(se.features.window, se.features.work, features);
                    fwrite(features, 4, GHOSTRNN_FEATURES, stdout);
                }
            }
        } else {
            int want_masks = strcmp(argv[1], "masks") == 0;
            ghostrnn_se_reset(&se);
            for (int32_t at = 0; at < count + GHOSTRNN_HOP_SAMPLES; at += GHOSTRNN_HOP_SAMPLES) {
                for (int32_t k = 0; k < GHOSTRNN_HOP_SAMPLES; k++) hop[k] = at + k < count ? data[at + k] : 0;
                int16_t *mask = masks + (size_t)(at / GHOSTRNN_HOP_SAMPLES) * GHOSTRNN_BINS;
                int ready = ghostrnn_se_push(&se, hop, mask, enhanced);
                if (want_masks) {
                    for (int k = 0; k < GHOSTRNN_BINS; k++) wide[produced++] = mask[k];
                } else if (ready) {
                    for (int k = 0; k < GHOSTRNN_HOP_SAMPLES && produced < (size_t)count; k++) wide[produced++] = enhanced[k];
                }
            }
        }
        fwrite(wide, 4, produced, stdout);
    }
    free(data);
    free(masks);
    free(wide);
    return 0;
}
"""


def build_library_driver(directory: Union[str, Path]) -> Path:
    """Compile an exported library with the host C compiler (its own Makefile flags) plus a check driver."""
    compiler = host_compiler()
    if compiler is None:
        raise ToolchainError("no host C compiler (cc, gcc or clang) on PATH")
    directory = Path(directory)
    driver = directory / "check_driver.c"
    speech_enhancer = "ghostrnn_se_push" in (directory / "ghostrnn_model.h").read_text(encoding="utf-8")
    driver.write_text(_SE_DRIVER if speech_enhancer else _DRIVER, encoding="utf-8")
    executable = directory / "check_driver"
    sources = [str(directory / name) for name in ("ghostrnn_model.c", "ghostrnn_weights.c", "ghostrnn_features.c")]
    command = [compiler, *CFLAGS.split(), "-ffp-contract=off", *sources, str(driver), "-o", str(executable)]
    result = subprocess.run(command, capture_output=True, text=True)
    driver.unlink()
    if result.returncode != 0:
        raise ToolchainError("host compile of the C library failed: " + " | ".join(result.stderr.strip().splitlines()[:8]))
    return executable


def run_library_driver(executable: Union[str, Path], mode: str, data, outputs_per_clip: Optional[int] = None):
    """Run the check driver on int16 data [clips, count(, features)]; returns a numpy array per clip."""
    import numpy as np

    array = np.ascontiguousarray(np.asarray(data), dtype=np.int16)
    clips, count = array.shape[0], array.shape[1]
    payload = np.array([clips, count], dtype=np.int32).tobytes() + array.tobytes()
    result = subprocess.run([str(executable), mode], input=payload, capture_output=True)
    if result.returncode != 0:
        raise ToolchainError(f"the C library check driver failed ({mode}, exit {result.returncode})")
    dtype = np.float32 if mode == "features" else np.int32
    values = np.frombuffer(result.stdout, dtype=dtype)
    return values.reshape(clips, -1) if outputs_per_clip is None else values.reshape(clips, outputs_per_clip, -1)


_FRONT_END_HARNESS = """#include <stddef.h>
#include "ghostrnn_model.h"
{memory_functions}
static ghostrnn_features_state front_end;
__attribute__((section(".io"))) int16_t io_input[{samples}];
__attribute__((section(".io"))) float io_output[GHOSTRNN_FEATURES];

__attribute__((section(".text.harness_run"), used)) void harness_run(void) {{
    int16_t frame[GHOSTRNN_FEATURES];
    ghostrnn_features_reset(&front_end);
    for (int h = 0; h < {hops}; h++) ghostrnn_features_push(&front_end, io_input + h * GHOSTRNN_HOP_SAMPLES, frame);
    ghostrnn_features_compute(front_end.window, front_end.work, io_output);
}}
"""


@dataclass(frozen=True)
class FrontEndMeasurement:
    """The front end run in the Cortex-M emulator."""

    device: str
    instructions_per_hop: float  # one steady-state hop: slide the window, one frame of features, quantise
    features: "object"  # float features of the last window (numpy [dims])


def measure_front_end(model: QuantizedModel, spec: FrontEndSpec, audio, isa: str, directory: Union[str, Path], extra_hops: int = 4) -> FrontEndMeasurement:
    """Instructions per hop of the exported front end on a Cortex-M (emulated), and its output.

    ``audio``: int16 samples, at least ``window + extra_hops * hop`` long. Two builds push
    ``window / hop`` and ``extra_hops`` more hops; the difference over ``extra_hops`` is
    one steady-state hop (the first hops only fill the window).
    """
    import numpy as np

    from cost_models.deploy._emulator import run_elf
    from cost_models.deploy._toolchain import MEMORY_FUNCTIONS, link_elf, target_for

    directory = Path(directory)
    write_c_library(directory, model, spec, [f"class{k}" for k in range(model.config.output_size)])
    fill = spec.window_samples // spec.hop_samples
    samples = np.ascontiguousarray(np.asarray(audio, dtype=np.int16)[: (fill + extra_hops) * spec.hop_samples])
    if samples.size < (fill + extra_hops) * spec.hop_samples:
        raise LibraryError(f"need {(fill + extra_hops) * spec.hop_samples} samples of audio, got {samples.size}")
    counts, features = [], None
    for hops in (fill, fill + extra_hops):
        build = directory / f"emulated-{hops}"
        build.mkdir(exist_ok=True)
        harness = directory / f"harness_{hops}.c"  # beside the header it includes
        harness.write_text(_FRONT_END_HARNESS.format(memory_functions=MEMORY_FUNCTIONS, samples=samples.size, hops=hops), encoding="utf-8")
        sources = [directory / "ghostrnn_features.c", directory / "ghostrnn_model.c", directory / "ghostrnn_weights.c", harness]
        elf = link_elf(sources, target_for(isa), build)
        result = run_elf(elf, isa, samples, spec.dims, "float32")
        counts.append(result.instructions)
        features = result.outputs
    return FrontEndMeasurement(isa, (counts[1] - counts[0]) / extra_hops, features)
