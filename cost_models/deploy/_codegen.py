"""C99 inference code for a design: int8 (bit-exact with ``_quantize.simulate``) or float32.

The generated translation unit is self-contained (only ``<stdint.h>``), allocates
nothing at run time and calls no library function, so it builds for a bare Cortex-M
and for the host alike:

* weights, biases and the sigmoid/tanh tables are ``static const`` arrays (flash);
* every layer's state ``[h, g]`` (plus the LSTM cell), the gate scratch, the new
  state, the streaming input frame and the output are ``static`` buffers (RAM, visible
  in the ELF's ``.bss``), sized as the analytic RAM model counts them;
* kernels are plain loops (one call per layer step and one per cheap op), the way an
  unfused CMSIS-style RNN kernel runs; the compiler is free to unroll them.

Public entry points of the generated code::

    void ghostrnn_reset(void);                               // zero every state
    void ghostrnn_step(const IN_T *frame);                   // one frame through all layers
    void ghostrnn_run(const IN_T *frames, int count, OUT_T *out);

``ghostrnn_run`` resets, then for KWS runs ``count`` frames and writes the logits
(int32, or float) after the last; for SE it writes one mask (Q0.15 int16, or float)
per frame. ``IN_T`` is int16_t (int8 model) or float.

Example:
    >>> import torch
    >>> from spaces import ArchConfig, build_model
    >>> from cost_models import generate_c, quantize_model
    >>> config = ArchConfig(hidden=8, ghost_ratio=2, frames=3)
    >>> source = generate_c(quantize_model(build_model(config), config))
    >>> "void ghostrnn_run(const int16_t *frames, int count, int32_t *out)" in source.code
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn

from spaces import ArchConfig

from cost_models.deploy._quantize import RQ_SHIFT, QuantizedModel

# Bump when the generated code changes what it computes or how: measured costs cached
# on disk are keyed by it.
GENERATOR_VERSION = "1"


@dataclass(frozen=True)
class CSource:
    """One generated translation unit and the types of its entry point."""

    code: str
    precision: str  # "int8" or "float32"
    input_type: str  # C type of a feature value
    output_type: str  # C type of an output value
    input_size: int
    output_size: int
    task: str

    def output_count(self, frames: int) -> int:
        """Output values written by ``ghostrnn_run`` for ``frames`` frames."""
        return self.output_size * (frames if self.task == "se" else 1)


def _array(ctype: str, name: str, values: Iterable[float | int], const: bool = True, per_line: int = 24) -> str:
    items = [repr(float(v)) + "f" if ctype == "float" else str(int(v)) for v in values]
    if not items:  # C99 forbids empty arrays; a one-element placeholder is never read
        items = ["0"]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    body = ",\n    ".join(lines)
    qualifier = "static const " if const else "static "
    return f"{qualifier}{ctype} {name}[{len(items)}] = {{\n    {body}\n}};\n"


def _flat(tensor: torch.Tensor) -> list:
    return tensor.detach().reshape(-1).tolist()


# ---------------------------------------------------------------- int8 kernels

_INT8_KERNELS = f"""
#define RQ_SHIFT {RQ_SHIFT}
#define ACT_IDENTITY 0
#define ACT_TANH 1

static inline int32_t sat16(int64_t v) {{
    return v > 32767 ? 32767 : (v < -32768 ? -32768 : (int32_t)v);
}}

/* Two int32 accumulators at different scales to Q3.12 (one rounding). */
static inline int32_t rq2(int32_t a, int32_t ma, int32_t b, int32_t mb) {{
    int64_t v = (int64_t)a * ma + (int64_t)b * mb + ((int64_t)1 << (RQ_SHIFT - 1));
    return sat16(v >> RQ_SHIFT);
}}

static inline int32_t rq1(int32_t a, int32_t ma) {{
    int64_t v = (int64_t)a * ma + ((int64_t)1 << (RQ_SHIFT - 1));
    return sat16(v >> RQ_SHIFT);
}}

/* Q3.12 -> Q0.15 by a 257-entry table over [-8, 8] with linear interpolation. */
static inline int32_t lut(const int16_t *table, int32_t x) {{
    uint32_t u = (uint32_t)(x + 32768);
    uint32_t i = u >> 8;
    int32_t f = (int32_t)(u & 255u);
    int32_t lo = table[i];
    return lo + (((table[i + 1] - lo) * f + 128) >> 8);
}}

static inline int32_t q15_to_q12(int32_t v) {{
    return (v + 4) >> 3;
}}

static int32_t dot_s8_s16(const int8_t *w, const int16_t *x, int n) {{
    int32_t acc = 0;
    for (int k = 0; k < n; k++) {{
        acc += (int32_t)w[k] * x[k];
    }}
    return acc;
}}

static void copy_s16(int16_t *dst, const int16_t *src, int n) {{
    for (int k = 0; k < n; k++) {{
        dst[k] = src[k];
    }}
}}
"""

_INT8_GRU = """
/* GhostGRU step: gates read [h, g]; the reset gate scales only W_hc h + b_hn. */
static void gru_cell(const int8_t *w_ih, const int8_t *w_hh, const int32_t *b_in, const int32_t *b_hn,
                     int32_t mx, int32_t ms, int D, int H, int m, const int16_t *x, const int16_t *s) {
    for (int j = 0; j < 2 * m; j++) {
        int32_t ax = b_in[j] + dot_s8_s16(w_ih + j * D, x, D);
        int32_t as = dot_s8_s16(w_hh + j * H, s, H);
        grnn_gates[j] = lut(grnn_sigmoid, rq2(ax, mx, as, ms));
    }
    for (int j = 0; j < m; j++) {
        int row = 2 * m + j;
        int32_t ax = b_in[row] + dot_s8_s16(w_ih + row * D, x, D);
        int32_t ah = b_hn[j] + dot_s8_s16(w_hh + row * H, s, m);
        int32_t ag = dot_s8_s16(w_hh + row * H + m, s + m, H - m);
        int32_t pre = sat16(rq2(ax, mx, ag, ms) + ((grnn_gates[j] * rq1(ah, ms) + (1 << 14)) >> 15));
        int32_t c = q15_to_q12(lut(grnn_tanh, pre));
        grnn_new[j] = (int16_t)(c + ((grnn_gates[m + j] * (s[j] - c) + (1 << 14)) >> 15));
    }
}
"""

_INT8_LSTM = """
/* GhostLSTM step: gates i, f, g, o read [h, g]; the cell state is intrinsic only. */
static void lstm_cell(const int8_t *w_ih, const int8_t *w_hh, const int32_t *b_in,
                      int32_t mx, int32_t ms, int D, int H, int m, const int16_t *x, const int16_t *s, int16_t *cell) {
    for (int j = 0; j < 4 * m; j++) {
        int32_t ax = b_in[j] + dot_s8_s16(w_ih + j * D, x, D);
        int32_t as = dot_s8_s16(w_hh + j * H, s, H);
        int32_t pre = rq2(ax, mx, as, ms);
        grnn_gates[j] = lut(j >= 2 * m && j < 3 * m ? grnn_tanh : grnn_sigmoid, pre);
    }
    for (int j = 0; j < m; j++) {
        int32_t c = sat16(((grnn_gates[m + j] * cell[j] + (1 << 14)) >> 15)
                          + ((grnn_gates[j] * grnn_gates[2 * m + j] + (1 << 17)) >> 18));
        cell[j] = (int16_t)c;
        grnn_new[j] = (int16_t)((grnn_gates[3 * m + j] * lut(grnn_tanh, c) + (1 << 17)) >> 18);
    }
}
"""

_INT8_CHEAP = {
    "dense": """
/* Ghost states from h by a dense int8 block (linear op, or one group of grouped). */
static void ghost_dense(const int8_t *w, const int32_t *b, int32_t mult, int rows, int cols,
                        const int16_t *h, int16_t *g, int act) {
    for (int j = 0; j < rows; j++) {
        int32_t v = rq1(b[j] + dot_s8_s16(w + j * cols, h, cols), mult);
        g[j] = (int16_t)(act == ACT_TANH ? q15_to_q12(lut(grnn_tanh, v)) : v);
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
        g[j] = (int16_t)(act == ACT_TANH ? q15_to_q12(lut(grnn_tanh, v)) : v);
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
static void head(const int8_t *w, const int32_t *b, int outputs, int H, const int16_t *s, int32_t mult) {
    (void)mult;
    for (int j = 0; j < outputs; j++) {
        grnn_output[j] = b[j] + dot_s8_s16(w + j * H, s, H);
    }
}
""",
    "se": """
static void head(const int8_t *w, const int32_t *b, int outputs, int H, const int16_t *s, int32_t mult) {
    for (int j = 0; j < outputs; j++) {
        grnn_output[j] = (int16_t)lut(grnn_sigmoid, rq1(b[j] + dot_s8_s16(w + j * H, s, H), mult));
    }
}
""",
}


def generate_c(model: QuantizedModel) -> CSource:
    """The int8 C inference code of a quantised design (bit-exact with ``simulate``)."""
    config = model.config
    parts = [
        f"/* GhostRNN int8 inference, generated by ghostrnn-search (generator {GENERATOR_VERSION}).\n"
        f" * Design: {config.task} {config.describe()}, input {config.input_size}, outputs {config.output_size}.\n"
        f" * Formats: int8 weights, int32 biases, int16 Q3.12 state, Q0.15 gates; input scale {model.input_scale!r}. */\n",
        "#include <stdint.h>\n",
        _array("int16_t", "grnn_sigmoid", _flat(model.sigmoid_table)),
        _array("int16_t", "grnn_tanh", _flat(model.tanh_table)),
    ]
    max_gates = max(layer.gates * layer.intrinsic for layer in model.layers)
    max_hidden = max(layer.hidden for layer in model.layers)
    output_type = "int32_t" if config.task == "kws" else "int16_t"
    parts += [
        f"static int32_t grnn_gates[{max_gates}];\n",
        f"static int16_t grnn_new[{max_hidden}];\n",
        f"static int16_t grnn_frame[{config.input_size}];\n",
        f"static {output_type} grnn_output[{config.output_size}];\n",
    ]
    step_lines: list[str] = []
    reset_lines: list[str] = []
    used_cheap: set[str] = set()
    for index, layer in enumerate(model.layers):
        prefix = f"l{index}"
        x = "grnn_frame" if index == 0 else f"l{index - 1}_state"
        parts.append(_array("int8_t", f"{prefix}_w_ih", _flat(layer.weight_ih)))
        parts.append(_array("int8_t", f"{prefix}_w_hh", _flat(layer.weight_hh)))
        parts.append(_array("int32_t", f"{prefix}_b_in", _flat(layer.bias_input)))
        parts.append(f"static int16_t {prefix}_state[{layer.hidden}];\n")
        reset_lines.append(f"    for (int k = 0; k < {layer.hidden}; k++) {prefix}_state[k] = 0;\n")
        args = f"{layer.multiplier_input}, {layer.multiplier_state}, {layer.input_size}, {layer.hidden}, {layer.intrinsic}, {x}, {prefix}_state"
        if layer.cell == "gru":
            parts.append(_array("int32_t", f"{prefix}_b_hn", _flat(layer.bias_hn)))
            step_lines.append(f"    gru_cell({prefix}_w_ih, {prefix}_w_hh, {prefix}_b_in, {prefix}_b_hn, {args});\n")
        else:
            parts.append(f"static int16_t {prefix}_cell[{layer.intrinsic}];\n")
            reset_lines.append(f"    for (int k = 0; k < {layer.intrinsic}; k++) {prefix}_cell[k] = 0;\n")
            step_lines.append(f"    lstm_cell({prefix}_w_ih, {prefix}_w_hh, {prefix}_b_in, {args}, {prefix}_cell);\n")
        cheap = layer.cheap
        m, ghost = layer.intrinsic, layer.ghost
        if cheap is not None:
            act = "ACT_TANH" if cheap.activation == "tanh" else "ACT_IDENTITY"
            target = f"grnn_new + {m}"
            if cheap.name == "identity":
                used_cheap.add("identity")
                step_lines.append(f"    ghost_identity({m}, {ghost}, grnn_new, {target});\n")
            elif cheap.name == "channelwise":
                used_cheap.add("channelwise")
                parts.append(_array("int8_t", f"{prefix}_g_w", _flat(cheap.weights[0])))
                parts.append(_array("int32_t", f"{prefix}_g_b", _flat(cheap.bias)))
                step_lines.append(f"    ghost_channelwise({prefix}_g_w, {prefix}_g_b, {cheap.multipliers[0]}, {m}, {ghost}, grnn_new, {target}, {act});\n")
            else:
                used_cheap.add("dense")
                parts.append(_array("int8_t", f"{prefix}_g_w", [v for w in cheap.weights for v in _flat(w)]))
                parts.append(_array("int32_t", f"{prefix}_g_b", _flat(cheap.bias)))
                w_off = in_off = out_off = 0
                for weight, mult, size_in, size_out in zip(cheap.weights, cheap.multipliers, cheap.input_sizes, cheap.output_sizes):
                    step_lines.append(
                        f"    ghost_dense({prefix}_g_w + {w_off}, {prefix}_g_b + {out_off}, {mult}, {size_out}, {size_in}, "
                        f"grnn_new + {in_off}, grnn_new + {m + out_off}, {act});\n"
                    )
                    w_off, in_off, out_off = w_off + weight.numel(), in_off + size_in, out_off + size_out
        # The new state replaces the old only after every row has read the old one.
        step_lines.append(f"    copy_s16({prefix}_state, grnn_new, {layer.hidden});\n")
    head = model.head
    parts.append(_array("int8_t", "head_w", _flat(head.weight)))
    parts.append(_array("int32_t", "head_b", _flat(head.bias)))
    parts.append(_INT8_KERNELS)
    parts.append(_INT8_GRU if config.cell == "gru" else _INT8_LSTM)
    parts += [_INT8_CHEAP[name] for name in sorted(used_cheap)]
    parts.append(_INT8_HEAD[config.task])
    last = f"l{len(model.layers) - 1}_state"
    parts.append(_api("int16_t", output_type, config, reset_lines, step_lines, last, head.multiplier))
    return CSource("".join(parts), "int8", "int16_t", output_type, config.input_size, config.output_size, config.task)


def _api(input_type: str, output_type: str, config: ArchConfig, reset_lines: list[str], step_lines: list[str], last: str, head_mult: int) -> str:
    D, O, H = config.input_size, config.output_size, config.hidden
    head_call = f"head(head_w, head_b, {O}, {H}, {last}, {head_mult})"
    if config.task == "kws":
        run_body = (
            f"    for (int t = 0; t < count; t++) ghostrnn_step(frames + t * {D});\n"
            f"    {head_call};\n"
            f"    for (int k = 0; k < {O}; k++) out[k] = grnn_output[k];\n"
        )
    else:
        run_body = (
            f"    for (int t = 0; t < count; t++) {{\n"
            f"        ghostrnn_step(frames + t * {D});\n"
            f"        {head_call};\n"
            f"        for (int k = 0; k < {O}; k++) out[t * {O} + k] = grnn_output[k];\n"
            f"    }}\n"
        )
    return (
        "\nvoid ghostrnn_reset(void) {\n" + "".join(reset_lines) + "}\n"
        f"\nvoid ghostrnn_step(const {input_type} *frame) {{\n"
        f"    for (int k = 0; k < {D}; k++) grnn_frame[k] = frame[k];\n" + "".join(step_lines) + "}\n"
        f"\nvoid ghostrnn_run(const {input_type} *frames, int count, {output_type} *out) {{\n"
        "    ghostrnn_reset();\n" + run_body + "}\n"
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
                     int D, int H, int m, const float *x, const float *s) {
    for (int j = 0; j < 2 * m; j++) {
        grnn_gates[j] = grnn_sigmoidf(b_in[j] + dot_f32(w_ih + j * D, x, D) + dot_f32(w_hh + j * H, s, H));
    }
    for (int j = 0; j < m; j++) {
        int row = 2 * m + j;
        float gi = b_in[row] + dot_f32(w_ih + row * D, x, D) + dot_f32(w_hh + row * H + m, s + m, H - m);
        float gh = b_hn[j] + dot_f32(w_hh + row * H, s, m);
        float c = grnn_tanhf(gi + grnn_gates[j] * gh);
        grnn_new[j] = c + grnn_gates[m + j] * (s[j] - c);
    }
}
"""

_FLOAT_LSTM = """
static void lstm_cell(const float *w_ih, const float *w_hh, const float *b_in,
                      int D, int H, int m, const float *x, const float *s, float *cell) {
    for (int j = 0; j < 4 * m; j++) {
        float pre = b_in[j] + dot_f32(w_ih + j * D, x, D) + dot_f32(w_hh + j * H, s, H);
        grnn_gates[j] = j >= 2 * m && j < 3 * m ? grnn_tanhf(pre) : grnn_sigmoidf(pre);
    }
    for (int j = 0; j < m; j++) {
        float c = grnn_gates[m + j] * cell[j] + grnn_gates[j] * grnn_gates[2 * m + j];
        cell[j] = c;
        grnn_new[j] = grnn_gates[3 * m + j] * grnn_tanhf(c);
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
static void head(const float *w, const float *b, int outputs, int H, const float *s, int unused) {
    (void)unused;
    for (int j = 0; j < outputs; j++) grnn_output[j] = b[j] + dot_f32(w + j * H, s, H);
}
""",
    "se": """
static void head(const float *w, const float *b, int outputs, int H, const float *s, int unused) {
    (void)unused;
    for (int j = 0; j < outputs; j++) grnn_output[j] = grnn_sigmoidf(b[j] + dot_f32(w + j * H, s, H));
}
""",
}


def generate_c_float(model: nn.Module, config: ArchConfig) -> CSource:
    """The float32 C inference code of a built model (matches PyTorch to ~1e-6)."""
    rnn = model.rnn
    parts = [
        f"/* GhostRNN float32 inference, generated by ghostrnn-search (generator {GENERATOR_VERSION}).\n"
        f" * Design: {config.task} {config.describe()}, input {config.input_size}, outputs {config.output_size}. */\n",
        "#include <stdint.h>\n",
    ]
    max_gates = max(layer.gates * layer.intrinsic_size for layer in rnn.layers)
    parts += [
        f"static float grnn_gates[{max_gates}];\n",
        f"static float grnn_new[{config.hidden}];\n",
        f"static float grnn_frame[{config.input_size}];\n",
        f"static float grnn_output[{config.output_size}];\n",
    ]
    step_lines: list[str] = []
    reset_lines: list[str] = []
    used_cheap: set[str] = set()
    for index, layer in enumerate(rnn.layers):
        prefix = f"l{index}"
        m, ghost, H = layer.intrinsic_size, layer.ghost_size, layer.hidden_size
        x = "grnn_frame" if index == 0 else f"l{index - 1}_state"
        bias_ih, bias_hh = layer.bias_ih.detach(), layer.bias_hh.detach()
        parts.append(_array("float", f"{prefix}_w_ih", _flat(layer.weight_ih)))
        parts.append(_array("float", f"{prefix}_w_hh", _flat(layer.weight_hh)))
        parts.append(f"static float {prefix}_state[{H}];\n")
        reset_lines.append(f"    for (int k = 0; k < {H}; k++) {prefix}_state[k] = 0.0f;\n")
        args = f"{layer.input_size}, {H}, {m}, {x}, {prefix}_state"
        if config.cell == "gru":
            folded = bias_ih + torch.cat([bias_hh[: 2 * m], bias_hh.new_zeros(m)])
            parts.append(_array("float", f"{prefix}_b_in", _flat(folded)))
            parts.append(_array("float", f"{prefix}_b_hn", _flat(bias_hh[2 * m :])))
            step_lines.append(f"    gru_cell({prefix}_w_ih, {prefix}_w_hh, {prefix}_b_in, {prefix}_b_hn, {args});\n")
        else:
            parts.append(_array("float", f"{prefix}_b_in", _flat(bias_ih + bias_hh)))
            parts.append(f"static float {prefix}_cell[{m}];\n")
            reset_lines.append(f"    for (int k = 0; k < {m}; k++) {prefix}_cell[k] = 0.0f;\n")
            step_lines.append(f"    lstm_cell({prefix}_w_ih, {prefix}_w_hh, {prefix}_b_in, {args}, {prefix}_cell);\n")
        op = layer.ghost
        if op is not None:
            act = "ACT_TANH" if getattr(op, "activation", "identity") == "tanh" else "ACT_IDENTITY"
            name = config.cheap_op
            target = f"grnn_new + {m}"
            if name == "identity":
                used_cheap.add("identity")
                step_lines.append(f"    ghost_identity({m}, {ghost}, grnn_new, {target});\n")
            elif name == "channelwise":
                used_cheap.add("channelwise")
                parts.append(_array("float", f"{prefix}_g_w", _flat(op.scale)))
                parts.append(_array("float", f"{prefix}_g_b", _flat(op.bias)))
                step_lines.append(f"    ghost_channelwise({prefix}_g_w, {prefix}_g_b, {m}, {ghost}, grnn_new, {target}, {act});\n")
            else:
                used_cheap.add("dense")
                blocks = [op.linear] if name == "linear" else list(op.blocks)
                bias = op.linear.bias if name == "linear" else op.bias
                parts.append(_array("float", f"{prefix}_g_w", [v for block in blocks for v in _flat(block.weight)]))
                parts.append(_array("float", f"{prefix}_g_b", _flat(bias)))
                w_off = in_off = out_off = 0
                for block in blocks:
                    size_out, size_in = block.weight.shape
                    step_lines.append(
                        f"    ghost_dense({prefix}_g_w + {w_off}, {prefix}_g_b + {out_off}, {size_out}, {size_in}, "
                        f"grnn_new + {in_off}, grnn_new + {m + out_off}, {act});\n"
                    )
                    w_off, in_off, out_off = w_off + block.weight.numel(), in_off + size_in, out_off + size_out
        step_lines.append(f"    copy_f32({prefix}_state, grnn_new, {H});\n")
    linear = model.classifier if config.task == "kws" else model.projection
    parts.append(_array("float", "head_w", _flat(linear.weight)))
    parts.append(_array("float", "head_b", _flat(linear.bias)))
    parts.append(_FLOAT_KERNELS)
    parts.append(_FLOAT_GRU if config.cell == "gru" else _FLOAT_LSTM)
    parts += [_FLOAT_CHEAP[name] for name in sorted(used_cheap)]
    parts.append(_FLOAT_HEAD[config.task])
    last = f"l{len(rnn.layers) - 1}_state"
    parts.append(_api("float", "float", config, reset_lines, step_lines, last, 0))
    return CSource("".join(parts), "float32", "float", "float", config.input_size, config.output_size, config.task)
