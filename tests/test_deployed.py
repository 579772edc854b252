"""Deployed (int8) accuracy: the simulation scores what the generated C computes, and the
search ranks designs by it (``--precision int8``, the default) or by float32 (``float``).

The C checks need a host C compiler (cc/gcc/clang) and skip without one; the Cortex-M
check needs the ``isa`` extra.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

import search
from cost_models.deploy import build_elf, build_host_library, generate_c, host_compiler, run_elf, simulate, target_for
from cost_models import measurement_available
from reports import pareto_frame
from search._errors import StudyError
from search._settings import RunSettings
from search.data import KwsData, KwsSplit, SeData, apply_mask, load_kws_data, load_se_data, si_snr_improvement
from search.training import Fidelity, ProxyResult, deployed_model, deployed_score, evaluate_int8, train_proxy, with_deployed_score
from spaces import ArchConfig

needs_host_cc = pytest.mark.skipif(host_compiler() is None, reason="no host C compiler (cc, gcc or clang) on PATH")
_MISSING = measurement_available()
needs_isa = pytest.mark.skipif(_MISSING is not None, reason=f"Cortex-M toolchain missing: {_MISSING}")

KWS_DESIGNS = [
    ArchConfig(hidden=32, ghost_ratio=2.0, cheap_op="linear"),
    # Two layers (the second reads Q3.12 states) and identity ghosts (no tanh bounds them).
    ArchConfig(hidden=24, layers=2, ghost_ratio=2.0, cheap_op="channelwise", activation="identity"),
]


@pytest.fixture(scope="module")
def kws_data(tmp_path_factory: pytest.TempPathFactory) -> KwsData:
    # 100 clips per class: 240 validation clips, generated in a few seconds.
    return load_kws_data(utterances_per_class=100, cache_dir=tmp_path_factory.mktemp("kws"), progress=False)


# Enough training to sit well above chance (1/12), so that int8 rounding can move answers.
TRAINING = Fidelity(epochs=6, batch_size=32, learning_rate=1e-2)


@pytest.fixture(scope="module")
def trained_results(kws_data: KwsData) -> list[ProxyResult]:
    return [with_deployed_score(train_proxy(config, kws_data, TRAINING), config, kws_data) for config in KWS_DESIGNS]


@pytest.fixture(scope="module")
def trained_kws(trained_results: list[ProxyResult]) -> list[tuple[ArchConfig, dict[str, torch.Tensor]]]:
    return [(config, result.state_dict) for config, result in zip(KWS_DESIGNS, trained_results)]


def _host_outputs(source, clips: torch.Tensor, directory: Path, output_dtype: str) -> np.ndarray:
    """The generated C compiled once for the host and run on every clip [N, T, D] (int16)."""
    library = ctypes.CDLL(str(build_host_library(source, directory)))
    library.ghostrnn_host_run.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    library.ghostrnn_host_run.restype = None
    outputs = []
    for clip in clips.numpy().astype(np.int16):
        clip = np.ascontiguousarray(clip)
        out = np.zeros(source.output_count(clip.shape[0]), dtype=output_dtype)
        library.ghostrnn_host_run(clip.ctypes.data, clip.shape[0], out.ctypes.data)
        outputs.append(out)
    return np.stack(outputs)


@needs_host_cc
@pytest.mark.parametrize("index", range(len(KWS_DESIGNS)), ids=[config.describe().replace(" ", "_") for config in KWS_DESIGNS])
def test_int8_accuracy_of_the_simulation_is_that_of_the_c_code(index, kws_data, trained_kws, tmp_path):
    config, weights = trained_kws[index]
    quantized = deployed_model(config, weights, kws_data)
    split = kws_data.validation
    assert len(split) >= 200  # a few hundred clips, all of the validation split
    inputs = quantized.quantize_input(split.features)
    simulated = simulate(quantized, inputs)
    produced = _host_outputs(generate_c(quantized), inputs, tmp_path, "int32")
    assert np.array_equal(produced.astype(np.int64), simulated.numpy()), "C logits differ from the simulation"
    c_accuracy = float((torch.from_numpy(produced.astype(np.int64)).argmax(dim=1) == split.labels).double().mean())
    assert evaluate_int8(quantized, kws_data) == pytest.approx(c_accuracy, abs=1e-12)
    assert deployed_score(config, weights, kws_data).metric == pytest.approx(c_accuracy, abs=1e-12)


@needs_isa
def test_int8_logits_in_the_cortex_m_emulator_match_the_simulation(kws_data, trained_kws, tmp_path):
    config, weights = trained_kws[0]
    quantized = deployed_model(config, weights, kws_data)
    inputs = quantized.quantize_input(kws_data.validation.features[:6])
    source = generate_c(quantized)
    elf = build_elf(source, target_for("cortex-m7"), config.frames, tmp_path)
    simulated = simulate(quantized, inputs).numpy()
    for clip, expected in zip(inputs, simulated):
        result = run_elf(elf, "cortex-m7", clip.numpy().astype(np.int16), source.output_count(config.frames), "int32")
        assert np.array_equal(result.outputs.astype(np.int64), expected)


@needs_host_cc
def test_se_int8_si_snri_of_the_simulation_is_that_of_the_c_code(tmp_path_factory, tmp_path):
    data: SeData = load_se_data(cache_dir=tmp_path_factory.mktemp("se"), progress=False)
    config = ArchConfig(task="se", features="stft129", hidden=32, ghost_ratio=2.0, cheap_op="grouped")
    weights = train_proxy(config, data, Fidelity(epochs=1, data_fraction=0.2)).state_dict
    quantized = deployed_model(config, weights, data)
    clips = data.validation.inputs[:8]
    simulated = simulate(quantized, quantized.quantize_input(clips))
    produced = _host_outputs(generate_c(quantized), quantized.quantize_input(clips), tmp_path, "int16")
    assert np.array_equal(produced.reshape(simulated.shape).astype(np.int64), simulated.numpy())
    noisy, clean = data.validation.noisy[:8], data.validation.clean[:8]
    masks = torch.from_numpy(produced.astype(np.float32)).reshape(simulated.shape) / 2**15
    from_c = float(si_snr_improvement(apply_mask(masks, noisy), noisy, clean).mean())
    subset = type(data)(train=data.train, validation=type(data.validation)(clips, noisy, clean, data.validation.snr_db[:8], data.validation.noise_kinds[:8]),
                        test=data.test, mean=data.mean, std=data.std, config=data.config)
    assert evaluate_int8(quantized, subset) == pytest.approx(from_c, abs=1e-9)


def test_input_scale_comes_from_the_training_split(kws_data, trained_kws):
    config, weights = trained_kws[0]
    score = deployed_score(config, weights, kws_data)
    assert score.input_scale == pytest.approx(float(kws_data.train.features.abs().max()) / 32767, rel=1e-12)
    # Scoring other clips does not move the scale: the validation inputs never calibrate it.
    louder = KwsData(**{**kws_data.__dict__, "validation": KwsSplit(kws_data.validation.features * 3, kws_data.validation.labels)})
    assert deployed_score(config, weights, louder).input_scale == score.input_scale


def test_trained_designs_lose_little_at_int8(trained_results):
    # Measured: float 39.6 / 35.4 %, int8 40.0 / 35.0 % (drops -0.4 and 0.4 points).
    for config, result in zip(KWS_DESIGNS, trained_results):
        assert result.metric > 0.25, "the design should have learnt something"
        assert result.deployed is not None and result.deployed.error == ""
        assert abs(result.metric - result.metric_int8) <= 0.03, (config.describe(), result.metric, result.metric_int8)
        json.dumps(result.to_dict())


def test_a_design_without_integer_form_gets_no_int8_score(kws_data, trained_results):
    from search.study._study import UNTRAINED_METRIC, precision_metric
    from search.training import summary_attrs

    config, result = KWS_DESIGNS[0], trained_results[0]
    weights = {name: tensor.clone() for name, tensor in result.state_dict.items()}
    weights["rnn.layers.0.bias_ih"].fill_(1e4)  # beyond int32 at the input accumulator's scale
    score = deployed_score(config, weights, kws_data)
    assert score.metric is None and "int32" in score.error
    broken = dataclasses.replace(result, deployed=score)
    settings = RunSettings(task="kws", space={"name": "s"}, space_fingerprint="f", device={"name": "cortex-m7"})
    assert precision_metric(settings, broken) == UNTRAINED_METRIC["kws"]
    assert precision_metric(dataclasses.replace(settings, precision="float"), broken) == result.metric
    attrs = summary_attrs("accuracy", result.metric, score)
    assert attrs["accuracy_int8"] is None and attrs["accuracy_drop"] is None and attrs["int8_error"] == score.error


def test_an_old_study_without_precision_reads_as_float():
    stored = RunSettings(task="kws", space={"name": "s"}, space_fingerprint="f", device={"name": "cortex-m7"})
    data = json.loads(stored.to_json())
    assert data["precision"] == "int8"
    del data["precision"]
    assert RunSettings.from_json(json.dumps(data)).precision == "float"
    assert "precision" in " ".join(stored.conflicts_with(RunSettings.from_json(json.dumps(data))))
    # A worker told to expect another precision refuses to join.
    from search.study._join import join_conflicts

    assert join_conflicts(stored, precision="int8") == []
    assert join_conflicts(stored, precision="float") == ["precision: study has 'int8', this worker was given 'float'"]


# ---------------------------------------------------------------- in the search

SMALL = dict(device="cortex-m7", budget="50KB", space="kws-small", utterances_per_class=20, fidelity=Fidelity(epochs=1), progress=False, sampler="random")


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("small-cache")


def _trained(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("trained") and t.user_attrs.get("duplicate_of") is None]


def test_default_search_scores_and_ranks_by_int8(tmp_path, small_cache, monkeypatch):
    monkeypatch.setenv("GHOSTRNN_CACHE", str(small_cache))
    result = search.run(trials=4, out=tmp_path, **SMALL)
    trained = _trained(result.study)
    assert trained
    for trial in trained:
        attrs = trial.user_attrs
        assert attrs["precision"] == "int8"
        assert attrs["metric"] == attrs["accuracy_int8"] == trial.values[0]
        assert attrs["accuracy_drop"] == pytest.approx(attrs["accuracy_float"] - attrs["accuracy_int8"])
        assert attrs["int8_input_scale"] > 0
    frame = result.trials
    assert (frame["accuracy"] == frame["accuracy_int8"]).loc[frame["trained"] & frame["duplicate_of"].isna()].all()
    # The front is the int8 front: recomputing it on accuracy_int8 gives the same designs.
    objectives = {"accuracy_int8": "maximize", "memory_bytes": "minimize", "latency_ms": "minimize"}
    assert set(pareto_frame(frame, objectives)["number"]) == set(result.pareto["number"])
    for column in ("accuracy_float", "accuracy_int8", "accuracy_drop"):
        assert column in result.pareto.columns
    report = (result.run_dir / "report.html").read_text(encoding="utf-8")
    assert 'data-plot="precision"' in report
    # The export re-runs the int8 model at the recorded input scale and gets the recorded score.
    from search.results import export_run, export_summary, open_run

    exported = export_run(open_run(result.run_dir), trial="best", to=tmp_path / "exported", onnx=False, progress=False)
    assert exported.recorded_int8 is not None and exported.recomputed_int8 == exported.recorded_int8
    assert exported.recomputed_metric == pytest.approx(exported.recorded_metric, abs=1e-9)
    assert "reproduced by the exported int8 model" in export_summary(exported)
    proxy_result = exported.document["training"]["proxy_result"]
    assert proxy_result["precision"] == "int8" and proxy_result["validation_metric_int8"] == exported.recorded_int8
    # Resuming with the other precision would mix incomparable numbers: refused.
    with pytest.raises(StudyError, match="precision"):
        search.run(trials=5, out=tmp_path, precision="float", **SMALL)


def test_float_precision_reproduces_the_float_numbers(tmp_path, small_cache, monkeypatch):
    monkeypatch.setenv("GHOSTRNN_CACHE", str(small_cache))
    result = search.run(trials=3, out=tmp_path, precision="float", **SMALL)
    data = load_kws_data(utterances_per_class=20, progress=False)
    trained = _trained(result.study)
    assert trained
    for trial in trained:
        config = ArchConfig.from_dict(trial.user_attrs["config"])
        expected = train_proxy(config, data, Fidelity(epochs=1)).metric
        assert trial.values[0] == trial.user_attrs["metric"] == trial.user_attrs["accuracy_float"] == expected
        assert trial.user_attrs["accuracy_int8"] is not None
