"""Search algorithms of ``studySpec.algorithm``: where each trial's parameters come from.

- ``GRID_SEARCH``: every combination of the INTEGER, CATEGORICAL and DISCRETE
  parameters, in order (the first parameter varies slowest); the study ends
  early when the grid has fewer points than ``maxTrialCount``.
- ``RANDOM_SEARCH``: independent draws from a seeded generator, so the same
  request tries the same values.
- ``ALGORITHM_UNSPECIFIED`` (Vertex AI's default, a Bayesian optimisation):
  Optuna's TPE sampler, seeded, told every finished trial's metric. Optuna
  is an optional extra (``pip install 'vertex-track[tuning]'``).

Scales (``scaleType``): ``UNIT_LINEAR_SCALE`` samples uniformly,
``UNIT_LOG_SCALE`` uniformly in log space, ``UNIT_REVERSE_LOG_SCALE`` the
mirror image of the log scale (values are dense near ``maxValue``). Both log
scales need ``minValue > 0``.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from typing import Any

from ..exceptions import InvalidArgumentError
from .request import ParameterSpec, StudySpec

__all__ = ["SEED", "Sampler", "make_sampler", "require_optuna"]

SEED = 0
Params = dict[str, Any]


def _number(value: float, kind: str) -> Any:
    if kind == "INTEGER":
        return int(value)
    return float(value)


class Sampler:
    """Hands out parameter sets (:meth:`ask`) and learns from results (:meth:`tell`)."""

    algorithm = ""

    def __init__(self, study: StudySpec, seed: int = SEED) -> None:
        self.study = study
        self.seed = seed
        self.goal = study.metrics[0].goal

    def ask(self) -> tuple[Any, Params] | None:
        """``(token, parameters)`` of the next trial, or None when there is none left."""
        raise NotImplementedError

    def tell(self, token: Any, value: float | None) -> None:
        """The final metric of the trial ``token`` (None: it failed)."""


class GridSampler(Sampler):
    algorithm = "GRID_SEARCH"

    def __init__(self, study: StudySpec, seed: int = SEED) -> None:
        super().__init__(study, seed)
        axes = [self._values(p) for p in study.parameters]
        self._ids = [p.parameter_id for p in study.parameters]
        self._grid: Iterator[tuple[Any, ...]] = itertools.product(*axes)

    @staticmethod
    def _values(p: ParameterSpec) -> list[Any]:
        if p.integer_value_spec is not None:
            return list(range(p.integer_value_spec.min_value, p.integer_value_spec.max_value + 1))
        if p.categorical_value_spec is not None:
            return list(p.categorical_value_spec.values)
        if p.discrete_value_spec is not None:
            return sorted(p.discrete_value_spec.values)
        raise InvalidArgumentError(  # validated earlier; kept for direct use
            f"GRID_SEARCH cannot enumerate the DOUBLE parameter {p.parameter_id!r}"
        )

    def ask(self) -> tuple[Any, Params] | None:
        point = next(self._grid, None)
        if point is None:
            return None
        return None, dict(zip(self._ids, point))


def _draw(rng: random.Random, p: ParameterSpec) -> Any:
    kind = p.kind
    if kind == "CATEGORICAL":
        assert p.categorical_value_spec is not None
        return rng.choice(p.categorical_value_spec.values)
    if kind == "DISCRETE":
        assert p.discrete_value_spec is not None
        return rng.choice(p.discrete_value_spec.values)
    spec = p.double_value_spec if kind == "DOUBLE" else p.integer_value_spec
    assert spec is not None
    lo, hi = float(spec.min_value), float(spec.max_value)
    if kind == "INTEGER":
        lo, hi = lo - 0.5 + 1e-9, hi + 0.5 - 1e-9  # every integer equally likely (linear)
    scale = p.scale
    if scale == "UNIT_LOG_SCALE":
        value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    elif scale == "UNIT_REVERSE_LOG_SCALE":
        value = lo + hi - math.exp(rng.uniform(math.log(lo), math.log(hi)))
    else:
        value = rng.uniform(lo, hi)
    if kind == "INTEGER":
        assert p.integer_value_spec is not None
        return min(max(round(value), p.integer_value_spec.min_value),
                   p.integer_value_spec.max_value)
    return min(max(value, lo), hi)


class RandomSampler(Sampler):
    algorithm = "RANDOM_SEARCH"

    def __init__(self, study: StudySpec, seed: int = SEED) -> None:
        super().__init__(study, seed)
        self._rng = random.Random(seed)

    def ask(self) -> tuple[Any, Params] | None:
        return None, {p.parameter_id: _draw(self._rng, p) for p in self.study.parameters}


def require_optuna() -> Any:
    """Import Optuna, or say how to install it.

    Raises:
        ImportError: Optuna is not installed.
    """
    try:
        import optuna
    except ImportError:
        raise ImportError(
            "studySpec.algorithm ALGORITHM_UNSPECIFIED (Vertex AI's default, a Bayesian "
            "optimisation) runs on Optuna, which is not installed: "
            "pip install 'vertex-track[tuning]' (or set algorithm to RANDOM_SEARCH or "
            "GRID_SEARCH)"
        ) from None
    return optuna


class BayesianSampler(Sampler):
    algorithm = "ALGORITHM_UNSPECIFIED"

    def __init__(self, study: StudySpec, seed: int = SEED) -> None:
        super().__init__(study, seed)
        optuna = require_optuna()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        direction = "maximize" if self.goal == "MAXIMIZE" else "minimize"
        self._study = optuna.create_study(
            direction=direction, sampler=optuna.samplers.TPESampler(seed=seed),
        )

    def _suggest(self, trial: Any, p: ParameterSpec) -> Any:
        kind, pid = p.kind, p.parameter_id
        if kind == "CATEGORICAL":
            assert p.categorical_value_spec is not None
            return trial.suggest_categorical(pid, list(p.categorical_value_spec.values))
        if kind == "DISCRETE":
            assert p.discrete_value_spec is not None
            return trial.suggest_categorical(pid, sorted(p.discrete_value_spec.values))
        spec = p.double_value_spec if kind == "DOUBLE" else p.integer_value_spec
        assert spec is not None
        scale = p.scale
        if kind == "INTEGER":
            return trial.suggest_int(
                pid, spec.min_value, spec.max_value, log=scale == "UNIT_LOG_SCALE"
            )
        lo, hi = float(spec.min_value), float(spec.max_value)
        if scale == "UNIT_REVERSE_LOG_SCALE":
            # Optuna has no reverse log scale: search the mirrored value on a log scale.
            mirrored = trial.suggest_float(f"{pid}__mirrored", lo, hi, log=True)
            return lo + hi - mirrored
        return trial.suggest_float(pid, lo, hi, log=scale == "UNIT_LOG_SCALE")

    def ask(self) -> tuple[Any, Params] | None:
        trial = self._study.ask()
        return trial, {p.parameter_id: self._suggest(trial, p) for p in self.study.parameters}

    def tell(self, token: Any, value: float | None) -> None:
        if value is None or not math.isfinite(value):
            self._study.tell(token, state=self._optuna.trial.TrialState.FAIL)
        else:
            self._study.tell(token, value)


def make_sampler(study: StudySpec, seed: int = SEED) -> Sampler:
    """The sampler of ``study.algorithm``.

    Raises:
        ImportError: ``ALGORITHM_UNSPECIFIED`` and Optuna is not installed.
    """
    if study.algorithm == "GRID_SEARCH":
        return GridSampler(study, seed)
    if study.algorithm == "RANDOM_SEARCH":
        return RandomSampler(study, seed)
    return BayesianSampler(study, seed)
