"""Vectorised simulation of many experiments looked at after every batch (arrays: experiments x looks)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from mlops_kit.abtest.sequential import ArmSeries


def binary_arm(rng: np.random.Generator, rate: float, batch: int, experiments: int, looks: int) -> ArmSeries:
    """Cumulative users and conversions of one arm receiving ``batch`` users per look."""
    conversions = np.cumsum(rng.binomial(batch, rate, size=(experiments, looks)), axis=1)
    users = np.broadcast_to(np.arange(1, looks + 1) * batch, (experiments, looks))
    return ArmSeries.conversions(users, conversions)


def lognormal_arm(
    rng: np.random.Generator, batch: int, experiments: int, looks: int, *, shift: float = 0.0, sigma: float = 1.0
) -> ArmSeries:
    """Cumulative totals of a skewed continuous metric (log-normal values, like revenue), mean moved by ``shift``."""
    total = np.zeros((experiments, looks))
    total_sq = np.zeros((experiments, looks))
    running = np.zeros(experiments)
    running_sq = np.zeros(experiments)
    for look in range(looks):
        values = rng.lognormal(0.0, sigma, size=(experiments, batch)) + shift
        running += values.sum(axis=1)
        running_sq += np.square(values).sum(axis=1)
        total[:, look], total_sq[:, look] = running, running_sq
    users = np.broadcast_to(np.arange(1, looks + 1) * batch, (experiments, looks))
    return ArmSeries.of(users, total, total_sq)


def naive_p_values(control: ArmSeries, treatment: ArmSeries, kind: str) -> np.ndarray:
    """The fixed-horizon p-value recomputed at every look, as a team that peeks at a t-test would."""
    difference = treatment.mean() - control.mean()
    if kind == "binary":
        pooled = (control.total + treatment.total) / (control.n + treatment.n)
        z = difference / np.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n))
        return 2 * stats.norm.sf(np.abs(z))
    var_c = control.variance("continuous") / control.n
    var_t = treatment.variance("continuous") / treatment.n
    df = (var_c + var_t) ** 2 / (var_c**2 / (control.n - 1) + var_t**2 / (treatment.n - 1))
    return 2 * stats.t.sf(np.abs(difference / np.sqrt(var_c + var_t)), df)
