"""C99 inference code for a design: int8 (bit-exact with ``_quantize.simulate``) or float32.

The generated code needs only ``<stdint.h>`` (and ``<arm_acle.h>`` on cores with the
DSP extension), allocates nothing and calls no library function, so it builds for a
bare Cortex-M and for the host alike:

* weights, biases and the sigmoid/tanh tables are ``const`` arrays (flash), named
  ``grnn_*``; the int8 matrices are stored in the order the kernels read them;
* every layer's state ``[h, g]`` (plus the LSTM cell), the gate scratch, the new
  state, the input frame and the output live in one caller-owned ``ghostrnn_state``
  struct (RAM), sized as the analytic RAM model counts them; no globals;
* the int8 matrix-vector products run four output rows per pass. On cores with the
  DSP extension (``__ARM_FEATURE_DSP``: Cortex-M4/M7/M33) they use LDRD + SXTB16 + SMLAD
  (two MACs per instruction; 19 instructions per 16 MACs), the requantisation SSAT and
  the sigmoid/tanh tables one SMLAD per interpolation; elsewhere (or with
  ``-DGRNN_PORTABLE``) the same sums in C.

API of the generated code (``IN_T`` int16_t or float, ``OUT_T`` int32_t/int16_t or float)::

    void ghostrnn_reset(ghostrnn_state *st);                          // zero every state
    void ghostrnn_step(ghostrnn_state *st, const IN_T *frame);        // one frame, all layers
    void ghostrnn_output(ghostrnn_state *st, OUT_T *out);             // head on the current state
    void ghostrnn_run(ghostrnn_state *st, const IN_T *frames, int count, OUT_T *out);

``ghostrnn_run`` resets, then for KWS runs ``count`` frames and writes the logits
(int32, or float) after the last; for SE it writes one mask (Q0.15 int16, or float)
per frame.

Example:
    >>> import torch
    >>> from spaces import ArchConfig, build_model
    >>> from cost_models import generate_c, quantize_model
    >>> config = ArchConfig(hidden=8, ghost_ratio=2, frames=3)
    >>> source = generate_c(quantize_model(build_model(config), config))
    >>> "void ghostrnn_run(ghostrnn_state *st, const int16_t *frames, int count, int32_t *out);" in source.declarations
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn

from spaces import ArchConfig

from cost_models.deploy._quantize import RQ_SHIFT, QuantizedModel

# sat16_shift30 in the generated C reads the shift of 30 from the high word.
if RQ_SHIFT != 30:
    raise ImportError(f"the generated requantisation assumes RQ_SHIFT = 30, not {RQ_SHIFT}")

# Bump when the generated code changes what it computes or how: measured costs cached
# on disk are keyed by it.
GENERATOR_VERSION = "6"


@dataclass(frozen=True)
class CSource:
    """Generated C of one design, in the parts a library is made of.

    ``declarations`` (the state struct and the API prototypes) go in a header;
    ``weights`` defines the const arrays (flash); ``implementation`` holds the kernels
    and the API and needs ``weight_declarations`` when the weights live in another
    file. ``code`` is the whole as one translation unit.
    """

    comment: str
    declarations: str
    weights: str
    weight_declarations: str
    implementation: str
    precision: str  # "int8" or "float32"
    input_type: str  # C type of a feature value
    output_type: str  # C type of an output value
    input_size: int
    output_size: int
    task: str

    @property
    def code(self) -> str:
        return self.comment + "#include <stdint.h>\n" + self.declarations + self.weights + self.implementation

    def header(self, guard: str = "GHOSTRNN_MODEL_H", extra: str = "") -> str:
        """A header declaring the state struct and the API (plus ``extra`` declarations)."""
        return f"#ifndef {guard}\n#define {guard}\n\n#include <stdint.h>\n{self.declarations}{extra}\n#endif /* {guard} */\n"

    def output_count(self, frames: int) -> int:
        """Output values written by ``ghostrnn_run`` for ``frames`` frames."""
        return self.output_size * (frames if self.task == "se" else 1)


def _array(ctype: str, name: str, values: Iterable[float | int], per_line: int = 24) -> tuple[str, str]:
    """A const array with external linkage: (definition, extern declaration)."""
    items = [repr(float(v)) + "f" if ctype == "float" else str(int(v)) for v in values]
    if not items:  # C99 forbids empty arrays; a one-element placeholder is never read
        items = ["0"]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    body = ",\n    ".join(lines)
    return f"const {ctype} {name}[{len(items)}] = {{\n    {body}\n}};\n", f"extern const {ctype} {name}[{len(items)}];\n"


class _Emitter:
    """Collects a design's const arrays, state members and API lines while it is walked."""

    def __init__(self) -> None:
        self.weights: list[str] = []
        self.externs: list[str] = []
        self.members: list[str] = []
        self.reset: list[str] = []
        self.step: list[str] = []

    def array(self, ctype: str, name: str, values: Iterable[float | int]) -> str:
        definition, extern = _array(ctype, f"grnn_{name}", values)
        self.weights.append(definition)
        self.externs.append(extern)
        return f"grnn_{name}"

    def member(self, ctype: str, name: str, count: int, reset: bool = False) -> str:
        self.members.append(f"    {ctype} {name}[{count}];\n")
        if reset:
            self.reset.append(f"    for (int k = 0; k < {count}; k++) st->{name}[k] = 0;\n")
        return f"st->{name}"


def _flat(tensor: torch.Tensor) -> list:
    return tensor.detach().reshape(-1).tolist()


def _grouped(values: list) -> list:
    """One row segment alone: groups of four as (w0, w2, w1, w3), the last ``len % 4`` in order."""
    full = len(values) - len(values) % 4
    ordered: list = []
    for k in range(0, full, 4):
        ordered += [values[k], values[k + 2], values[k + 1], values[k + 3]]
    return ordered + values[full:]


def _kernel_order(weight: torch.Tensor, splits: Iterable[int] = ()) -> list:
    """Row-major int8 values of one matrix section in the order the C kernels read them.

    Rows go in blocks of four (``mac4_s8_s16``): for each column segment (the row, or its
    parts between the column ``splits``) and each group of four columns, one word per row
    as (w0, w2, w1, w3), then the segment's last ``len % 4`` columns as one word each
    holding the four rows. The rows left over are stored alone (``dot_s8_s16``). The C
    code walks a section in blocks from its first row, so sections (a GRU's gate rows and
    candidate rows) are ordered separately. ``simulate`` reads the natural order.
    """
    rows = weight.detach().reshape(weight.shape[0], -1).tolist()
    if not rows:
        return []
    bounds = [0, *splits, len(rows[0])]
    ordered: list = []
    full_blocks = len(rows) - len(rows) % 4
    for start_row in range(0, full_blocks, 4):
        block = rows[start_row : start_row + 4]
        for start, end in zip(bounds[:-1], bounds[1:]):
            segments = [row[start:end] for row in block]
            groups = (end - start) // 4 * 4
            for k in range(0, groups, 4):
                for segment in segments:
                    ordered += [segment[k], segment[k + 2], segment[k + 1], segment[k + 3]]
            for k in range(groups, end - start):
                ordered += [segment[k] for segment in segments]
    for row in rows[full_blocks:]:
        for start, end in zip(bounds[:-1], bounds[1:]):
            ordered += _grouped(row[start:end])
    return ordered


# ---------------------------------------------------------------- int8 kernels

# Half a pass of the LDRD matrix loop: two activation words, then two weight words for
# rows 0-1 and two for rows 2-3 (SXTB16 + SMLAD each). The loop body is two of these.
_LDRD_GROUP_OF_FOUR = '''\
        "ldrd %[x01], %[x23], [%[x]], #8\\n\\t"
        "ldrd %[p], %[q], [%[w]], #8\\n\\t"
        "sxtb16 %[t], %[p]\\n\\t"
        "smlad %[a0], %[t], %[x01], %[a0]\\n\\t"
        "sxtb16 %[p], %[p], ror #8\\n\\t"
        "smlad %[a0], %[p], %[x23], %[a0]\\n\\t"
        "sxtb16 %[t], %[q]\\n\\t"
        "smlad %[a1], %[t], %[x01], %[a1]\\n\\t"
        "sxtb16 %[q], %[q], ror #8\\n\\t"
        "smlad %[a1], %[q], %[x23], %[a1]\\n\\t"
        "ldrd %[p], %[q], [%[w]], #8\\n\\t"
        "sxtb16 %[t], %[p]\\n\\t"
        "smlad %[a2], %[t], %[x01], %[a2]\\n\\t"
        "sxtb16 %[p], %[p], ror #8\\n\\t"
        "smlad %[a2], %[p], %[x23], %[a2]\\n\\t"
        "sxtb16 %[t], %[q]\\n\\t"
        "smlad %[a3], %[t], %[x01], %[a3]\\n\\t"
        "sxtb16 %[q], %[q], ror #8\\n\\t"
        "smlad %[a3], %[q], %[x23], %[a3]\\n\\t"'''


_INT8_KERNELS = f"""
/* Cores with the DSP extension (Cortex-M4/M7/M33) use its SIMD multiply-accumulates;
 * define GRNN_PORTABLE to build the plain C kernels there too (same results). */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(GRNN_PORTABLE)
#include <arm_acle.h>
#define GRNN_SIMD 1
static inline int32_t read_word(const void *p) {{
    int32_t v;
    __builtin_memcpy(&v, p, 4); /* unaligned LDR: rows and state slices need not be word aligned */
    return v;
}}
#endif
#define RQ_SHIFT {RQ_SHIFT}
#define GRNN_BLOCK 16 /* rows per call of the matrix kernels */
/* Kept out of line: each cell (inlined, a two-layer model's code grows by several KiB)
 * and the 4-row kernel, whose assembly needs 11 free registers (inlined into a busy
 * caller, the compiler can run out). Measured: fewer instructions than inlined. */
#if defined(__GNUC__)
#define GRNN_NOINLINE __attribute__((noinline))
#else
#define GRNN_NOINLINE
#endif
#define ACT_IDENTITY 0
#define ACT_TANH 1

static inline int32_t sat16(int32_t v) {{
    return v > 32767 ? 32767 : (v < -32768 ? -32768 : v);
}}

/* sat16(v >> 30) read from the two words of v: the shifted value is outside int16 exactly
 * when the high word is outside [-2^13, 2^13), so no 64-bit compare or shift is needed. */
#ifdef GRNN_SIMD
/* Branch-free with SSAT: a high word clamped to 15 bits still lands outside int16 after
 * the shift exactly when it was outside [-2^13, 2^13), and the second SSAT clamps it. */
static inline int32_t sat16_shift30(int64_t v) {{
    int32_t high = __ssat((int32_t)(v >> 32), 15);
    return __ssat((int32_t)(((uint32_t)v >> 30) | ((uint32_t)high << 2)), 16);
}}
#else
static inline int32_t sat16_shift30(int64_t v) {{
    int32_t high = (int32_t)(v >> 32);
    if (high >= 8192) return 32767;
    if (high < -8192) return -32768;
    return (int32_t)(((uint32_t)v >> 30) | ((uint32_t)high << 2));
}}
#endif

/* Two int32 accumulators at different scales to Q3.12 (one rounding). */
#ifdef GRNN_SIMD
/* Two SMLALs into a 64-bit sum that starts at the rounding constant: written out because
 * the compiler turns the multiplies by the folded constant multipliers into 64 x 64-bit
 * sequences. */
static inline int32_t rq2(int32_t a, int32_t ma, int32_t b, int32_t mb) {{
    uint32_t low = 1u << (RQ_SHIFT - 1);
    int32_t high = 0;
    __asm__("smlal %0, %1, %2, %3\\n\\tsmlal %0, %1, %4, %5" : "+&r"(low), "+&r"(high) : "r"(a), "r"(ma), "r"(b), "r"(mb));
    return sat16_shift30((int64_t)(((uint64_t)(uint32_t)high << 32) | low));
}}

static inline int32_t rq1(int32_t a, int32_t ma) {{
    uint32_t low = 1u << (RQ_SHIFT - 1);
    int32_t high = 0;
    __asm__("smlal %0, %1, %2, %3" : "+&r"(low), "+&r"(high) : "r"(a), "r"(ma));
    return sat16_shift30((int64_t)(((uint64_t)(uint32_t)high << 32) | low));
}}
#else
static inline int32_t rq2(int32_t a, int32_t ma, int32_t b, int32_t mb) {{
    return sat16_shift30((int64_t)a * ma + (int64_t)b * mb + ((int64_t)1 << (RQ_SHIFT - 1)));
}}

static inline int32_t rq1(int32_t a, int32_t ma) {{
    return sat16_shift30((int64_t)a * ma + ((int64_t)1 << (RQ_SHIFT - 1)));
}}
#endif

/* Q3.12 -> Q0.15 by a 257-entry table over [-8, 8] with linear interpolation. */
#ifdef GRNN_SIMD
/* The two neighbouring entries in one (unaligned) word and one SMLAD:
 * lo + ((hi - lo) f + 128) >> 8 == (lo (256 - f) + hi f + 128) >> 8. */
static inline int32_t lut(const int16_t *table, int32_t x) {{
    int32_t pair = read_word(table + 128 + (x >> 8));
    uint32_t f = (uint32_t)x & 255u;
    return __smlad(pair, (int32_t)((256u - f) | (f << 16)), 128) >> 8;
}}
#else
static inline int32_t lut(const int16_t *table, int32_t x) {{
    uint32_t u = (uint32_t)(x + 32768);
    uint32_t i = u >> 8;
    int32_t f = (int32_t)(u & 255u);
    int32_t lo = table[i];
    return lo + (((table[i + 1] - lo) * f + 128) >> 8);
}}
#endif

static inline int32_t q15_to_q12(int32_t v) {{
    return (v + 4) >> 3;
}}

/* q15_to_q12(lut(table, x)): the two roundings are one, since
 * ((S + 128) >> 8 + 4) >> 3 == (S + 1152) >> 11 for the interpolation sum S. */
#ifdef GRNN_SIMD
static inline int32_t lut_q12(const int16_t *table, int32_t x) {{
    int32_t pair = read_word(table + 128 + (x >> 8));
    uint32_t f = (uint32_t)x & 255u;
    return __smlad(pair, (int32_t)((256u - f) | (f << 16)), 1152) >> 11;
}}
#else
static inline int32_t lut_q12(const int16_t *table, int32_t x) {{
    return q15_to_q12(lut(table, x));
}}
#endif

/* Matrix-vector kernels. Rows come in blocks of four, interleaved: for each group of four
 * columns the block stores one word per row, each as (w0, w2, w1, w3), so that SXTB16
 * unpacks it into the pairs (w0, w1) and (w2, w3) that line up with two int16 activation
 * pairs for SMLAD; the last n % 4 columns follow as one word per column (its 4 rows).
 * A block is read front to back through one pointer, and each activation word is loaded
 * once for four rows. Rows left over (fewer than four) are stored alone, in groups of
 * four as (w0, w2, w1, w3) and the last n % 4 in order. Cores with the DSP extension
 * (Cortex-M4/M7/M33) run two MACs per SMLAD; other targets run the same sums in C. */

/* out[0..3] = init[0..3] (or 0) + the four interleaved rows at w times x[0..n). */
GRNN_NOINLINE static void mac4_s8_s16(const int8_t *w, const int16_t *x, int n, const int32_t *init, int32_t *out) {{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    if (init) {{
        a0 = init[0];
        a1 = init[1];
        a2 = init[2];
        a3 = init[3];
    }}
    int groups = n >> 2;
#ifdef GRNN_SIMD
    /* Written out: the compiler's schedule of the same intrinsics keeps the four rows'
     * registers less well (spills, extra moves; measured in the emulator). */
    if (groups > 0 && (((uintptr_t)w | (uintptr_t)x) & 3u) == 0) {{
        /* Word-aligned rows and activations (the usual case): LDRD loads two activation
         * words, then two rows' weight words; two groups of four columns per pass. An odd
         * group count enters the loop at its second half. 19 instructions per 16 MACs. */
        int32_t x01, x23, p, q, t;
        int pairs = groups + 1;
        __asm__ volatile(
        "lsrs %[pairs], %[pairs], #1\\n\\t"
        "bcc 2f\\n\\t"
        "1:\\n\\t"
{_LDRD_GROUP_OF_FOUR}
        "2:\\n\\t"
{_LDRD_GROUP_OF_FOUR}
        "subs %[pairs], %[pairs], #1\\n\\t"
        "bne 1b\\n\\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w] "+r"(w), [pairs] "+r"(pairs),
          [x01] "=&r"(x01), [x23] "=&r"(x23), [p] "=&r"(p), [q] "=&r"(q), [t] "=&r"(t)
        :
        : "memory", "cc");
    }} else if (groups > 0) {{
        /* Unaligned rows or activations: LDR per word (unaligned LDR is allowed). One
         * pass: two activation words, then per row one weight word, SXTB16 twice, SMLAD
         * twice. */
        int32_t x01, x23, p, t;
        __asm__ volatile(
        "1:\\n\\t"
        "ldr %[x01], [%[x]], #4\\n\\t"
        "ldr %[x23], [%[x]], #4\\n\\t"
        "ldr %[p], [%[w]], #4\\n\\t"
        "sxtb16 %[t], %[p]\\n\\t"
        "smlad %[a0], %[t], %[x01], %[a0]\\n\\t"
        "sxtb16 %[p], %[p], ror #8\\n\\t"
        "smlad %[a0], %[p], %[x23], %[a0]\\n\\t"
        "ldr %[p], [%[w]], #4\\n\\t"
        "sxtb16 %[t], %[p]\\n\\t"
        "smlad %[a1], %[t], %[x01], %[a1]\\n\\t"
        "sxtb16 %[p], %[p], ror #8\\n\\t"
        "smlad %[a1], %[p], %[x23], %[a1]\\n\\t"
        "ldr %[p], [%[w]], #4\\n\\t"
        "sxtb16 %[t], %[p]\\n\\t"
        "smlad %[a2], %[t], %[x01], %[a2]\\n\\t"
        "sxtb16 %[p], %[p], ror #8\\n\\t"
        "smlad %[a2], %[p], %[x23], %[a2]\\n\\t"
        "ldr %[p], [%[w]], #4\\n\\t"
        "sxtb16 %[t], %[p]\\n\\t"
        "smlad %[a3], %[t], %[x01], %[a3]\\n\\t"
        "sxtb16 %[p], %[p], ror #8\\n\\t"
        "smlad %[a3], %[p], %[x23], %[a3]\\n\\t"
        "subs %[groups], %[groups], #1\\n\\t"
        "bne 1b\\n\\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w] "+r"(w), [groups] "+r"(groups),
          [x01] "=&r"(x01), [x23] "=&r"(x23), [p] "=&r"(p), [t] "=&r"(t)
        :
        : "memory", "cc");
    }}
#else
    for (; groups > 0; groups--) {{
        int32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        a0 += w[0] * x0 + w[1] * x2 + w[2] * x1 + w[3] * x3;
        a1 += w[4] * x0 + w[5] * x2 + w[6] * x1 + w[7] * x3;
        a2 += w[8] * x0 + w[9] * x2 + w[10] * x1 + w[11] * x3;
        a3 += w[12] * x0 + w[13] * x2 + w[14] * x1 + w[15] * x3;
        x += 4;
        w += 16;
    }}
#endif
    for (int k = n & 3; k > 0; k--) {{
        int32_t v = *x++;
        a0 += w[0] * v;
        a1 += w[1] * v;
        a2 += w[2] * v;
        a3 += w[3] * v;
        w += 4;
    }}
    out[0] = a0;
    out[1] = a1;
    out[2] = a2;
    out[3] = a3;
}}

/* One row alone: w . x[0..n). */
static int32_t dot_s8_s16(const int8_t *w, const int16_t *x, int n) {{
    int32_t acc = 0;
    int k = 0;
#ifdef GRNN_SIMD
    for (; k + 4 <= n; k += 4) {{
        int32_t p = read_word(w + k);
        acc = __smlad(__sxtb16(p), read_word(x + k), acc);
        acc = __smlad(__sxtb16(__ror((uint32_t)p, 8)), read_word(x + k + 2), acc);
    }}
#else
    for (; k + 4 <= n; k += 4) {{
        acc += w[k] * x[k] + w[k + 1] * x[k + 2] + w[k + 2] * x[k + 1] + w[k + 3] * x[k + 3];
    }}
#endif
    for (; k < n; k++) {{
        acc += (int32_t)w[k] * x[k];
    }}
    return acc;
}}

/* out[r] = init[r] (or 0 when init is NULL) + row r . x for the rows of a matrix section
 * whose rows are stride wide, over the n columns from column offset (a block keeps each
 * column range contiguous). init may be out. */
static void mac_rows(const int8_t *w, int stride, int offset, int rows, const int16_t *x, int n,
                     const int32_t *init, int32_t *out) {{
    for (; rows >= 4; rows -= 4, w += 4 * stride, out += 4) {{
        mac4_s8_s16(w + 4 * offset, x, n, init, out);
        if (init) init += 4;
    }}
    for (; rows > 0; rows--, w += stride, out++) {{
        out[0] = (init ? *init++ : 0) + dot_s8_s16(w + offset, x, n);
    }}
}}

static void copy_s16(int16_t *dst, const int16_t *src, int n) {{
    for (int k = 0; k < n; k++) {{
        dst[k] = src[k];
    }}
}}
"""

_INT8_GRU = """
/* GhostGRU step: gates read [h, g]; the reset gate scales only W_hc h + b_hn. The input
 * side of all 3m rows goes into the gate buffer in one pass; the recurrent side runs in
 * blocks of rows, each followed by its gate arithmetic. */
GRNN_NOINLINE static void gru_cell(const int8_t *w_ih, const int8_t *w_hh, const int32_t *b_in, const int32_t *b_hn,
                     int32_t mx, int32_t ms, int D, int H, int m, const int16_t *x, const int16_t *s,
                     int32_t *gates, int16_t *fresh) {
    int32_t as[GRNN_BLOCK], ah[GRNN_BLOCK];
    mac_rows(w_ih, D, 0, 3 * m, x, D, b_in, gates);
    for (int j = 0; j < 2 * m; j += GRNN_BLOCK) {
        int rows = 2 * m - j < GRNN_BLOCK ? 2 * m - j : GRNN_BLOCK;
        mac_rows(w_hh + j * H, H, 0, rows, s, H, 0, as);
        for (int r = 0; r < rows; r++) {
            gates[j + r] = lut(grnn_sigmoid, rq2(gates[j + r], mx, as[r], ms));
        }
    }
    for (int j = 0; j < m; j += GRNN_BLOCK) {
        int rows = m - j < GRNN_BLOCK ? m - j : GRNN_BLOCK;
        const int8_t *w = w_hh + (2 * m + j) * H;
        mac_rows(w, H, 0, rows, s, m, b_hn + j, ah);
        if (m < H) {
            mac_rows(w, H, m, rows, s + m, H - m, 0, as);
        } else {
            for (int r = 0; r < rows; r++) as[r] = 0; /* no ghost states */
        }
        /* Two passes over the block: each keeps few values live, so the compiler holds
         * the constants in registers (one pass spilled them; measured in the emulator). */
        const int32_t *input = gates + 2 * m + j, *reset = gates + j, *update = gates + m + j;
        for (int r = 0; r < rows; r++) {
            as[r] = sat16(rq2(input[r], mx, as[r], ms) + ((reset[r] * rq1(ah[r], ms) + (1 << 14)) >> 15));
        }
        const int16_t *old = s + j;
        int16_t *out = fresh + j;
        for (int r = 0; r < rows; r++) {
            int32_t c = lut_q12(grnn_tanh, as[r]);
            out[r] = (int16_t)(c + ((update[r] * (old[r] - c) + (1 << 14)) >> 15));
        }
    }
}
"""

_INT8_LSTM = """
/* GhostLSTM step: gates i, f, g, o read [h, g]; the cell state is intrinsic only. The input
 * side of all 4m rows goes into the gate buffer in one pass. */
GRNN_NOINLINE static void lstm_cell(const int8_t *w_ih, const int8_t *w_hh, const int32_t *b_in,
                      int32_t mx, int32_t ms, int D, int H, int m, const int16_t *x, const int16_t *s, int16_t *cell,
                     int32_t *gates, int16_t *fresh) {
    int32_t as[GRNN_BLOCK];
    mac_rows(w_ih, D, 0, 4 * m, x, D, b_in, gates);
    for (int j = 0; j < 4 * m; j += GRNN_BLOCK) {
        int rows = 4 * m - j < GRNN_BLOCK ? 4 * m - j : GRNN_BLOCK;
        mac_rows(w_hh + j * H, H, 0, rows, s, H, 0, as);
        for (int r = 0; r < rows; r++) {
            int i = j + r;
            int32_t pre = rq2(gates[i], mx, as[r], ms);
            gates[i] = lut(i >= 2 * m && i < 3 * m ? grnn_tanh : grnn_sigmoid, pre);
        }
    }
    for (int j = 0; j < m; j++) {
        int32_t c = sat16(((gates[m + j] * cell[j] + (1 << 14)) >> 15)
                          + ((gates[j] * gates[2 * m + j] + (1 << 17)) >> 18));
        cell[j] = (int16_t)c;
        fresh[j] = (int16_t)((gates[3 * m + j] * lut(grnn_tanh, c) + (1 << 17)) >> 18);
    }
}
"""

_INT8_CHEAP = {
    "dense": """
/* Ghost states from h by a dense int8 block (linear op, or one group of grouped). */
static void ghost_dense(const int8_t *w, const int32_t *b, int32_t mult, int rows, int cols,
                        const int16_t *h, int16_t *g, int act) {
    int32_t acc[GRNN_BLOCK];
    for (int j = 0; j < rows; j += GRNN_BLOCK) {
        int count = rows - j < GRNN_BLOCK ? rows - j : GRNN_BLOCK;
        mac_rows(w + j * cols, cols, 0, count, h, cols, b + j, acc);
        for (int r = 0; r < count; r++) {
            int32_t v = rq1(acc[r], mult);
            g[j + r] = (int16_t)(act == ACT_TANH ? lut_q12(grnn_tanh, v) : v);
        }
    }
}
""",
    "channelwise": """
/* g_j = act(a_j * h_(j mod m) + b_j). */
static void ghost_channelwise(const int8_t *a, const int32_t *b, int32_t mult, int m, int G,
                              const int16_t *h, int16_t *g, int act) {
    int src = 0;
    for (int j = 0; j < G; j++) {
        int32_t v = rq1(b[j] + (int32_t)a[j] * h[src], mult);
        g[j] = (int16_t)(act == ACT_TANH ? lut_q12(grnn_tanh, v) : v);
        src = src + 1 == m ? 0 : src + 1;
    }
}
""",
    "identity": """
/* g_j = h_(j mod m): a copy. */
static void ghost_identity(int m, int G, const int16_t *h, int16_t *g) {
    int src = 0;
    for (int j = 0; j < G; j++) {
        g[j] = h[src];
        src = src + 1 == m ? 0 : src + 1;
    }
}
""",
}

_INT8_HEAD = {
    "kws": """
static void head(const int8_t *w, const int32_t *b, int outputs, int H, const int16_t *s, int32_t mult, int32_t *out) {
    (void)mult;
    mac_rows(w, H, 0, outputs, s, H, b, out);
}
""",
    "se": """
static void head(const int8_t *w, const int32_t *b, int outputs, int H, const int16_t *s, int32_t mult, int16_t *out) {
    int32_t acc[GRNN_BLOCK];
    for (int j = 0; j < outputs; j += GRNN_BLOCK) {
        int count = outputs - j < GRNN_BLOCK ? outputs - j : GRNN_BLOCK;
        mac_rows(w + j * H, H, 0, count, s, H, b + j, acc);
        for (int r = 0; r < count; r++) out[j + r] = (int16_t)lut(grnn_sigmoid, rq1(acc[r], mult));
    }
}
""",
}


def _padded(columns: int) -> int:
    return (columns + 3) // 4 * 4


def _recurrent_order(layer) -> list:
    """``W_hh`` in kernel order: a GRU's candidate rows are a section of two column segments, [h] and [g]."""
    if layer.cell != "gru":
        return _kernel_order(layer.weight_hh)
    m = layer.intrinsic
    return _kernel_order(layer.weight_hh[: 2 * m]) + _kernel_order(layer.weight_hh[2 * m :], splits=(m,))


def generate_c(model: QuantizedModel) -> CSource:
    """The int8 C inference code of a quantised design (bit-exact with ``simulate``)."""
    config = model.config
    comment = (
        f"/* GhostRNN int8 inference, generated by ghostrnn-search (generator {GENERATOR_VERSION}).\n"
        f" * Design: {config.task} {config.describe()}, input {config.input_size}, outputs {config.output_size}.\n"
        f" * Formats: int8 weights, int32 biases, int16 Q3.12 state, Q0.15 gates; input scale {model.input_scale!r}. */\n"
    )
    out = _Emitter()
    out.array("int16_t", "sigmoid", _flat(model.sigmoid_table))
    out.array("int16_t", "tanh", _flat(model.tanh_table))
    output_type = "int32_t" if config.task == "kws" else "int16_t"
    states = [out.member("int16_t", f"l{index}_state", layer.hidden, reset=True) for index, layer in enumerate(model.layers)]
    cells = [out.member("int16_t", f"l{index}_cell", layer.intrinsic, reset=True) if layer.cell == "lstm" else "" for index, layer in enumerate(model.layers)]
    gates = out.member("int32_t", "gates", max(layer.gates * layer.intrinsic for layer in model.layers))
    fresh = out.member("int16_t", "fresh", max(layer.hidden for layer in model.layers))
    # The frame is padded with zeros to a multiple of 4 (and the first layer's W_ih with
    # zero columns), so the matrix kernels see no leftover columns on the input side.
    frame = out.member("int16_t", "frame", _padded(config.input_size), reset=True)
    out.member(output_type, "output", config.output_size)
    used_cheap: set[str] = set()
    for index, layer in enumerate(model.layers):
        prefix = f"l{index}"
        x = frame if index == 0 else states[index - 1]
        weight_ih = layer.weight_ih
        if index == 0:
            weight_ih = torch.nn.functional.pad(weight_ih, (0, _padded(layer.input_size) - layer.input_size))
        w_ih = out.array("int8_t", f"{prefix}_w_ih", _kernel_order(weight_ih))
        w_hh = out.array("int8_t", f"{prefix}_w_hh", _recurrent_order(layer))
        b_in = out.array("int32_t", f"{prefix}_b_in", _flat(layer.bias_input))
        args = f"{layer.multiplier_input}, {layer.multiplier_state}, {weight_ih.shape[1]}, {layer.hidden}, {layer.intrinsic}, {x}, {states[index]}"
        if layer.cell == "gru":
            b_hn = out.array("int32_t", f"{prefix}_b_hn", _flat(layer.bias_hn))
            out.step.append(f"    gru_cell({w_ih}, {w_hh}, {b_in}, {b_hn}, {args}, {gates}, {fresh});\n")
        else:
            out.step.append(f"    lstm_cell({w_ih}, {w_hh}, {b_in}, {args}, {cells[index]}, {gates}, {fresh});\n")
        cheap = layer.cheap
        m, ghost = layer.intrinsic, layer.ghost
        if cheap is not None:
            act = "ACT_TANH" if cheap.activation == "tanh" else "ACT_IDENTITY"
            target = f"{fresh} + {m}"
            if cheap.name == "identity":
                used_cheap.add("identity")
                out.step.append(f"    ghost_identity({m}, {ghost}, {fresh}, {target});\n")
            elif cheap.name == "channelwise":
                used_cheap.add("channelwise")
                g_w = out.array("int8_t", f"{prefix}_g_w", _flat(cheap.weights[0]))
                g_b = out.array("int32_t", f"{prefix}_g_b", _flat(cheap.bias))
                out.step.append(f"    ghost_channelwise({g_w}, {g_b}, {cheap.multipliers[0]}, {m}, {ghost}, {fresh}, {target}, {act});\n")
            else:
                used_cheap.add("dense")
                g_w = out.array("int8_t", f"{prefix}_g_w", [v for w in cheap.weights for v in _kernel_order(w)])
                g_b = out.array("int32_t", f"{prefix}_g_b", _flat(cheap.bias))
                w_off = in_off = out_off = 0
                for weight, mult, size_in, size_out in zip(cheap.weights, cheap.multipliers, cheap.input_sizes, cheap.output_sizes):
                    out.step.append(
                        f"    ghost_dense({g_w} + {w_off}, {g_b} + {out_off}, {mult}, {size_out}, {size_in}, "
                        f"{fresh} + {in_off}, {fresh} + {m + out_off}, {act});\n"
                    )
                    w_off, in_off, out_off = w_off + weight.numel(), in_off + size_in, out_off + size_out
        # The new state replaces the old only after every row has read the old one.
        out.step.append(f"    copy_s16({states[index]}, {fresh}, {layer.hidden});\n")
    head = model.head
    head_w = out.array("int8_t", "head_w", _kernel_order(head.weight))
    head_b = out.array("int32_t", "head_b", _flat(head.bias))
    kernels = [_INT8_KERNELS, _INT8_GRU if config.cell == "gru" else _INT8_LSTM, *[_INT8_CHEAP[name] for name in sorted(used_cheap)], _INT8_HEAD[config.task]]
    head_call = f"head({head_w}, {head_b}, {config.output_size}, {config.hidden}, {states[-1]}, {head.multiplier}, st->output)"
    return _assemble(comment, out, kernels, head_call, "int16_t", output_type, config, "int8")


def _assemble(comment: str, out: _Emitter, kernels: list[str], head_call: str, input_type: str, output_type: str, config: ArchConfig, precision: str) -> CSource:
    """The state struct, the API and the CSource around a walked design."""
    D, O = config.input_size, config.output_size
    declarations = (
        "\n/* Everything the model keeps between calls: caller-owned, reset by ghostrnn_reset. */\n"
        "typedef struct ghostrnn_state {\n" + "".join(out.members) + "} ghostrnn_state;\n\n"
        "/* Zero the recurrent state (start of a new stream). */\n"
        "void ghostrnn_reset(ghostrnn_state *st);\n"
        f"/* One feature frame ({D} values) through every layer. */\n"
        f"void ghostrnn_step(ghostrnn_state *st, const {input_type} *frame);\n"
        f"/* The head on the current state: {O} {'class scores (logits)' if config.task == 'kws' else 'mask values'}. */\n"
        f"void ghostrnn_output(ghostrnn_state *st, {output_type} *out);\n"
        "/* Reset, then count frames; KWS writes the scores after the last, SE one mask per frame. */\n"
        f"void ghostrnn_run(ghostrnn_state *st, const {input_type} *frames, int count, {output_type} *out);\n"
    )
    if config.task == "kws":
        run_body = f"    for (int t = 0; t < count; t++) ghostrnn_step(st, frames + t * {D});\n    ghostrnn_output(st, out);\n"
    else:
        run_body = (
            f"    for (int t = 0; t < count; t++) {{\n"
            f"        ghostrnn_step(st, frames + t * {D});\n"
            f"        ghostrnn_output(st, out + t * {O});\n"
            f"    }}\n"
        )
    api = (
        "\nvoid ghostrnn_reset(ghostrnn_state *st) {\n" + "".join(out.reset) + "}\n"
        f"\nvoid ghostrnn_step(ghostrnn_state *st, const {input_type} *frame) {{\n"
        f"    for (int k = 0; k < {D}; k++) st->frame[k] = frame[k];\n" + "".join(out.step) + "}\n"
        f"\nvoid ghostrnn_output(ghostrnn_state *st, {output_type} *out) {{\n"
        f"    {head_call};\n"
        f"    for (int k = 0; k < {O}; k++) out[k] = st->output[k];\n"
        "}\n"
        f"\nvoid ghostrnn_run(ghostrnn_state *st, const {input_type} *frames, int count, {output_type} *out) {{\n"
        "    ghostrnn_reset(st);\n" + run_body + "}\n"
    )
    return CSource(
        comment=comment,
        declarations=declarations,
        weights="".join(out.weights),
        weight_declarations="".join(out.externs),
        implementation="".join(kernels) + api,
        precision=precision,
        input_type=input_type,
        output_type=output_type,
        input_size=D,
        output_size=O,
        task=config.task,
    )


# ---------------------------------------------------------------- float32

_FLOAT_KERNELS = """
/* exp by range reduction x = k ln2 + r and a degree-6 polynomial on |r| <= ln2/2
 * (relative error ~1e-7), so no libm is needed on a bare target. */
static float grnn_exp(float x) {
    if (x > 88.0f) x = 88.0f;
    if (x < -87.0f) x = -87.0f;
    float kf = x * 1.44269504f;
    int k = (int)(kf + (kf >= 0.0f ? 0.5f : -0.5f));
    float r = x - (float)k * 0.693145752f - (float)k * 1.42860677e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f + r * (0.00833333377f + r * 0.00138888892f)))));
    union { float f; int32_t i; } scale;
    scale.i = (k + 127) << 23;
    return p * scale.f;
}

static inline float grnn_sigmoidf(float x) {
    return 1.0f / (1.0f + grnn_exp(-x));
}

static inline float grnn_tanhf(float x) {
    if (x > 9.0f) return 1.0f;
    if (x < -9.0f) return -1.0f;
    float e = grnn_exp(2.0f * x);
    return (e - 1.0f) / (e + 1.0f);
}

#define ACT_IDENTITY 0
#define ACT_TANH 1

static float dot_f32(const float *w, const float *x, int n) {
    float acc = 0.0f;
    for (int k = 0; k < n; k++) {
        acc += w[k] * x[k];
    }
    return acc;
}

static void copy_f32(float *dst, const float *src, int n) {
    for (int k = 0; k < n; k++) {
        dst[k] = src[k];
    }
}
"""

_FLOAT_GRU = """
static void gru_cell(const float *w_ih, const float *w_hh, const float *b_in, const float *b_hn,
                     int D, int H, int m, const float *x, const float *s,
                     float *gates, float *fresh) {
    for (int j = 0; j < 2 * m; j++) {
        gates[j] = grnn_sigmoidf(b_in[j] + dot_f32(w_ih + j * D, x, D) + dot_f32(w_hh + j * H, s, H));
    }
    for (int j = 0; j < m; j++) {
        int row = 2 * m + j;
        float gi = b_in[row] + dot_f32(w_ih + row * D, x, D) + dot_f32(w_hh + row * H + m, s + m, H - m);
        float gh = b_hn[j] + dot_f32(w_hh + row * H, s, m);
        float c = grnn_tanhf(gi + gates[j] * gh);
        fresh[j] = c + gates[m + j] * (s[j] - c);
    }
}
"""

_FLOAT_LSTM = """
static void lstm_cell(const float *w_ih, const float *w_hh, const float *b_in,
                      int D, int H, int m, const float *x, const float *s, float *cell,
                     float *gates, float *fresh) {
    for (int j = 0; j < 4 * m; j++) {
        float pre = b_in[j] + dot_f32(w_ih + j * D, x, D) + dot_f32(w_hh + j * H, s, H);
        gates[j] = j >= 2 * m && j < 3 * m ? grnn_tanhf(pre) : grnn_sigmoidf(pre);
    }
    for (int j = 0; j < m; j++) {
        float c = gates[m + j] * cell[j] + gates[j] * gates[2 * m + j];
        cell[j] = c;
        fresh[j] = gates[3 * m + j] * grnn_tanhf(c);
    }
}
"""

_FLOAT_CHEAP = {
    "dense": """
static void ghost_dense(const float *w, const float *b, int rows, int cols, const float *h, float *g, int act) {
    for (int j = 0; j < rows; j++) {
        float v = b[j] + dot_f32(w + j * cols, h, cols);
        g[j] = act == ACT_TANH ? grnn_tanhf(v) : v;
    }
}
""",
    "channelwise": """
static void ghost_channelwise(const float *a, const float *b, int m, int G, const float *h, float *g, int act) {
    int src = 0;
    for (int j = 0; j < G; j++) {
        float v = b[j] + a[j] * h[src];
        g[j] = act == ACT_TANH ? grnn_tanhf(v) : v;
        src = src + 1 == m ? 0 : src + 1;
    }
}
""",
    "identity": """
static void ghost_identity(int m, int G, const float *h, float *g) {
    int src = 0;
    for (int j = 0; j < G; j++) {
        g[j] = h[src];
        src = src + 1 == m ? 0 : src + 1;
    }
}
""",
}

_FLOAT_HEAD = {
    "kws": """
static void head(const float *w, const float *b, int outputs, int H, const float *s, int unused, float *out) {
    (void)unused;
    for (int j = 0; j < outputs; j++) out[j] = b[j] + dot_f32(w + j * H, s, H);
}
""",
    "se": """
static void head(const float *w, const float *b, int outputs, int H, const float *s, int unused, float *out) {
    (void)unused;
    for (int j = 0; j < outputs; j++) out[j] = grnn_sigmoidf(b[j] + dot_f32(w + j * H, s, H));
}
""",
}


def generate_c_float(model: nn.Module, config: ArchConfig) -> CSource:
    """The float32 C inference code of a built model (matches PyTorch to ~1e-6)."""
    rnn = model.rnn
    comment = (
        f"/* GhostRNN float32 inference, generated by ghostrnn-search (generator {GENERATOR_VERSION}).\n"
        f" * Design: {config.task} {config.describe()}, input {config.input_size}, outputs {config.output_size}. */\n"
    )
    out = _Emitter()
    states = [out.member("float", f"l{index}_state", layer.hidden_size, reset=True) for index, layer in enumerate(rnn.layers)]
    cells = [out.member("float", f"l{index}_cell", layer.intrinsic_size, reset=True) if config.cell == "lstm" else "" for index, layer in enumerate(rnn.layers)]
    gates = out.member("float", "gates", max(layer.gates * layer.intrinsic_size for layer in rnn.layers))
    fresh = out.member("float", "fresh", config.hidden)
    frame = out.member("float", "frame", config.input_size)
    out.member("float", "output", config.output_size)
    used_cheap: set[str] = set()
    for index, layer in enumerate(rnn.layers):
        prefix = f"l{index}"
        m, ghost, H = layer.intrinsic_size, layer.ghost_size, layer.hidden_size
        x = frame if index == 0 else states[index - 1]
        bias_ih, bias_hh = layer.bias_ih.detach(), layer.bias_hh.detach()
        w_ih = out.array("float", f"{prefix}_w_ih", _flat(layer.weight_ih))
        w_hh = out.array("float", f"{prefix}_w_hh", _flat(layer.weight_hh))
        args = f"{layer.input_size}, {H}, {m}, {x}, {states[index]}"
        if config.cell == "gru":
            folded = bias_ih + torch.cat([bias_hh[: 2 * m], bias_hh.new_zeros(m)])
            b_in = out.array("float", f"{prefix}_b_in", _flat(folded))
            b_hn = out.array("float", f"{prefix}_b_hn", _flat(bias_hh[2 * m :]))
            out.step.append(f"    gru_cell({w_ih}, {w_hh}, {b_in}, {b_hn}, {args}, {gates}, {fresh});\n")
        else:
            b_in = out.array("float", f"{prefix}_b_in", _flat(bias_ih + bias_hh))
            out.step.append(f"    lstm_cell({w_ih}, {w_hh}, {b_in}, {args}, {cells[index]}, {gates}, {fresh});\n")
        op = layer.ghost
        if op is not None:
            act = "ACT_TANH" if getattr(op, "activation", "identity") == "tanh" else "ACT_IDENTITY"
            name = config.cheap_op
            target = f"{fresh} + {m}"
            if name == "identity":
                used_cheap.add("identity")
                out.step.append(f"    ghost_identity({m}, {ghost}, {fresh}, {target});\n")
            elif name == "channelwise":
                used_cheap.add("channelwise")
                g_w = out.array("float", f"{prefix}_g_w", _flat(op.scale))
                g_b = out.array("float", f"{prefix}_g_b", _flat(op.bias))
                out.step.append(f"    ghost_channelwise({g_w}, {g_b}, {m}, {ghost}, {fresh}, {target}, {act});\n")
            else:
                used_cheap.add("dense")
                blocks = [op.linear] if name == "linear" else list(op.blocks)
                bias = op.linear.bias if name == "linear" else op.bias
                g_w = out.array("float", f"{prefix}_g_w", [v for block in blocks for v in _flat(block.weight)])
                g_b = out.array("float", f"{prefix}_g_b", _flat(bias))
                w_off = in_off = out_off = 0
                for block in blocks:
                    size_out, size_in = block.weight.shape
                    out.step.append(
                        f"    ghost_dense({g_w} + {w_off}, {g_b} + {out_off}, {size_out}, {size_in}, "
                        f"{fresh} + {in_off}, {fresh} + {m + out_off}, {act});\n"
                    )
                    w_off, in_off, out_off = w_off + block.weight.numel(), in_off + size_in, out_off + size_out
        out.step.append(f"    copy_f32({states[index]}, {fresh}, {H});\n")
    linear = model.classifier if config.task == "kws" else model.projection
    head_w = out.array("float", "head_w", _flat(linear.weight))
    head_b = out.array("float", "head_b", _flat(linear.bias))
    kernels = [_FLOAT_KERNELS, _FLOAT_GRU if config.cell == "gru" else _FLOAT_LSTM, *[_FLOAT_CHEAP[name] for name in sorted(used_cheap)], _FLOAT_HEAD[config.task]]
    head_call = f"head({head_w}, {head_b}, {config.output_size}, {config.hidden}, {states[-1]}, 0, st->output)"
    return _assemble(comment, out, kernels, head_call, "float", "float", config, "float32")
