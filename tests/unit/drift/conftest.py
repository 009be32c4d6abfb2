"""Small synthetic reference/current frames shared by the drift tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_frame(rows: int, *, seed: int, shift: float = 0.0, new_category: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    colours = ["red", "green", "blue", "black"] + (["violet"] if new_category else [])
    weights = np.array([0.4, 0.3, 0.2, 0.1] + ([0.3] if new_category else []))
    return pd.DataFrame(
        {
            "age": rng.normal(40 + 10 * shift, 10, rows).round(),
            "income": rng.lognormal(10 + shift, 0.5, rows),
            "colour": rng.choice(colours, rows, p=weights / weights.sum()),
            "plan": pd.Categorical(rng.choice(["basic", "pro"], rows)),
            "score": rng.beta(2 + 3 * shift, 5, rows),
        }
    )


@pytest.fixture
def reference() -> pd.DataFrame:
    return make_frame(5_000, seed=1)


@pytest.fixture
def current_same() -> pd.DataFrame:
    return make_frame(4_000, seed=2)


@pytest.fixture
def current_drifted() -> pd.DataFrame:
    return make_frame(4_000, seed=3, shift=1.0, new_category=True)
