"""A finished (or running) study as the reports see it: open a run, importances, the HTML report.

``reports`` knows nothing of Optuna storages; this module opens a run directory (or a
storage URL), reads the settings stored in the study and hands plain tables and dicts
to ``reports``.

Example (after ``search run ... --out runs``):

    >>> from search.results._report import open_run, write_run_report
    >>> run = open_run("runs/kws-cortex-m7-100KB")  # doctest: +SKIP
    >>> write_run_report(run)  # doctest: +SKIP
    PosixPath('runs/kws-cortex-m7-100KB/report.html')
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Optional, Union

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from reports import OBJECTIVE_COLUMNS, ReportInputs, pareto_frame, trials_frame, write_report

from search._errors import StudyError, UsageError
from search._settings import SETTINGS_ATTR, RunSettings
from search.storage import mask_url, open_storage

REPORT_NAME = "report.html"
# PED-ANOVA (Optuna's fast evaluator) is deterministic and needs no scikit-learn, which
# fANOVA would; the report then stays the same for the same study on any machine.
IMPORTANCE_EVALUATOR = "PED-ANOVA"
IMPORTANCE_MIN_TRIALS = 4
# PED-ANOVA contrasts the best trials of an objective with all of them. Optuna's 10 %
# leaves 2-4 trials in a 20-40 trial search, too few to see a choice that is bad
# everywhere (LSTM cells at 40 % against GRUs at 74 % scored ~0); a quarter holds enough.
IMPORTANCE_QUANTILE = 0.25


@dataclass
class OpenedRun:
    """A study with its settings, its trials table and its Pareto-optimal designs."""

    study: optuna.Study
    settings: RunSettings
    storage_url: str
    run_dir: Optional[Path]
    frame: pd.DataFrame
    pareto: pd.DataFrame

    @property
    def objectives(self) -> dict[str, str]:
        return objective_columns(self.settings)


def objective_columns(settings: RunSettings) -> dict[str, str]:
    """The run's objectives as trials-table columns -> direction (metric first)."""
    return {
        (settings.metric_name if name == "metric" else OBJECTIVE_COLUMNS[name]): direction
        for name, direction in zip(settings.objectives, settings.directions)
    }


def metric_columns(metric_name: str) -> dict[str, str]:
    """Generic metric columns of the trials table -> their names for the task (``accuracy_int8``)."""
    columns = {"metric": metric_name, "proxy_metric": f"proxy_{metric_name}"}
    columns.update({f"metric_{suffix}": f"{metric_name}_{suffix}" for suffix in ("float", "int8", "drop")})
    return columns


def study_tables(study: optuna.Study, settings: RunSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trials table (metric column named after the task metric) and its front.

    The same tables ``search run`` writes to trials.csv and pareto.csv: after a
    promotion the front holds the promoted designs only, with their longer-trained metric.
    """
    from search.study import with_promotions

    trials = study.get_trials(deepcopy=False)
    frame, promoted = with_promotions(trials_frame(trials), trials, study.user_attrs)
    frame = frame.rename(columns=metric_columns(settings.metric_name))
    pareto = pareto_frame(frame[promoted] if promoted.any() else frame, objective_columns(settings))
    return frame, pareto


def _storage_of_run_dir(run_dir: Path) -> str:
    if not run_dir.exists():
        raise UsageError(f"run directory {run_dir} does not exist; pass a folder written by 'search run' (default runs/<study>)")
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir} is not a directory; pass the run folder that holds study.db, not a file in it")
    journal, database = run_dir / "study.journal", run_dir / "study.db"
    if journal.is_file():
        return f"journal:{journal}"
    if database.is_file():
        return f"sqlite:///{database}"
    raise StudyError(
        f"{run_dir} holds no study (no study.db or study.journal); pass a folder written by 'search run', "
        "or --storage URL --study NAME"
    )


def open_run(run_dir: Union[str, Path, None] = None, storage: Optional[str] = None, study: Optional[str] = None) -> OpenedRun:
    """Open a run folder, or the study ``study`` in the storage URL ``storage``.

    Raises :class:`StudyError` / :class:`UsageError` with one line for a folder without a
    study, a storage without it, or a study not made by ``search run``.
    """
    if storage is None and run_dir is None:
        raise UsageError("give a run directory, or --storage URL --study NAME")
    folder = Path(run_dir) if run_dir is not None else None
    url = storage or _storage_of_run_dir(folder)  # type: ignore[arg-type]
    storage_obj = open_storage(url)
    try:
        summaries = optuna.get_all_study_summaries(storage_obj, include_best_trial=False)
    except Exception as error:  # a damaged file or an unreachable server
        raise StudyError(f"cannot read the studies in {mask_url(url)} ({str(error).splitlines()[0]})") from None
    names = [summary.study_name for summary in summaries]
    if study is None:
        if not names:
            raise StudyError(f"{mask_url(url)} holds no study yet; start one with 'search run'")
        if len(names) > 1:
            raise UsageError(f"{mask_url(url)} holds several studies ({', '.join(names)}); choose one with --study")
        study = names[0]
    elif study not in names:
        raise StudyError(f"no study {study!r} in {mask_url(url)} (studies there: {', '.join(names) or 'none'})")
    summary = summaries[names.index(study)]
    if SETTINGS_ATTR not in summary.user_attrs:
        raise StudyError(f"study {study!r} was not made by 'search run'; nothing to report")
    settings = RunSettings.from_json(summary.user_attrs[SETTINGS_ATTR])
    study_obj = optuna.load_study(study_name=study, storage=storage_obj)
    frame, pareto = study_tables(study_obj, settings)
    return OpenedRun(study=study_obj, settings=settings, storage_url=url, run_dir=folder, frame=frame, pareto=pareto)


def _target(name: str, settings: RunSettings, trial: FrozenTrial) -> Optional[float]:
    if name == "metric":
        return trial.user_attrs.get("metric")
    return trial.user_attrs.get("cost", {}).get(OBJECTIVE_COLUMNS[name])


def importance_pool(study: optuna.Study) -> list[FrozenTrial]:
    """The trials importances are computed over: complete, feasible, trained, first of their design.

    Infeasible designs were never trained and a repeated design is the same point twice;
    with them in, the costs' importances would describe the designs the budget rules
    out, not the choices among those that fit.
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return [t for t in complete if t.user_attrs.get("feasible") and t.user_attrs.get("trained") and t.user_attrs.get("duplicate_of") is None and t.params]


def param_importances(study: optuna.Study, settings: RunSettings) -> tuple[dict[str, dict[str, float]], str]:
    """PED-ANOVA importance of each searched parameter for each objective.

    PED-ANOVA scores how much each parameter decides whether a design lands in the best
    quarter (:data:`IMPORTANCE_QUANTILE`) of the trained, feasible designs for that
    objective (:func:`importance_pool`), for the metric and the costs alike.
    Returns ``({objective: {parameter: importance}}, note)``; the note says why an
    objective is missing (too few trials, nothing varies).
    """
    pool_all = importance_pool(study)
    results: dict[str, dict[str, float]] = {}
    notes = []
    for name in settings.objectives:
        label = settings.metric_name if name == "metric" else name
        pool = [t for t in pool_all if _target(name, settings, t) is not None]
        if len(pool) < IMPORTANCE_MIN_TRIALS:
            notes.append(f"{label}: {len(pool)} trained feasible designs, {IMPORTANCE_MIN_TRIALS} needed")
            continue
        # The direction matters: PED-ANOVA looks at the best trials of the objective.
        scratch = optuna.create_study(direction=settings.directions[settings.objectives.index(name)])
        for trial in pool:
            scratch.add_trial(optuna.trial.create_trial(params=trial.params, distributions=trial.distributions, value=float(_target(name, settings, trial))))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=IMPORTANCE_QUANTILE)
                values = optuna.importance.get_param_importances(scratch, evaluator=evaluator)
        except (ValueError, RuntimeError) as error:
            notes.append(f"{label}: {error}")
            continue
        if values:
            results[label] = {key: float(value) for key, value in values.items()}
    return results, "; ".join(notes)


def tool_version() -> str:
    try:
        return version("ghostrnn-search")
    except PackageNotFoundError:
        return "unknown"


def report_inputs(run: OpenedRun, importances: bool = True) -> ReportInputs:
    """The plain data the HTML report is drawn from (``importances=False`` skips the slow part)."""
    # Optuna logs every in-memory scratch study it creates at INFO.
    logging.getLogger("optuna").setLevel(logging.WARNING)
    values, note = param_importances(run.study, run.settings) if importances else ({}, "not computed")
    return ReportInputs(
        frame=run.frame,
        objectives=run.objectives,
        metric_name=run.settings.metric_name,
        settings=_settings_dict(run.settings),
        study_name=run.study.study_name,
        importances=values,
        importance_note=note,
        importance_evaluator=IMPORTANCE_EVALUATOR,
        storage=mask_url(run.storage_url),
        run_dir=str(run.run_dir) if run.run_dir is not None else "",
        tool_version=tool_version(),
        pareto=run.pareto,
    )


def _settings_dict(settings: RunSettings) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(settings)


def write_run_report(run: OpenedRun, out: Union[str, Path, None] = None) -> Path:
    """Write the HTML report of ``run`` to ``out`` (default: ``<run dir>/report.html``)."""
    if out is None:
        if run.run_dir is None:
            raise UsageError("a study opened from --storage has no run folder; pass --out FILE")
        out = run.run_dir / REPORT_NAME
    try:
        return write_report(report_inputs(run), out)
    except OSError as error:
        raise UsageError(f"cannot write the report to {out} ({error.strerror}); pass a writable --out") from None


def write_study_report(
    study: optuna.Study,
    settings: RunSettings,
    run_dir: Path,
    frame: Optional[pd.DataFrame] = None,
    pareto: Optional[pd.DataFrame] = None,
    storage_url: str = "",
) -> Path:
    """The report at the end of ``search run``: ``<run dir>/report.html``."""
    if frame is None or pareto is None:
        frame, pareto = study_tables(study, settings)
    run = OpenedRun(study=study, settings=settings, storage_url=storage_url, run_dir=run_dir, frame=frame, pareto=pareto)
    return write_run_report(run)
