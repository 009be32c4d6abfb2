"""Apply the use case's transformations and split into train / validation / test.

The test split is the gate's: it is chosen by a hash of each row's identity (the training set's label-side
columns, not its features or label), not by the seed, so retuning or reseeding a run cannot move rows between
test and the rest, and no job before evaluation reads it (training sees train and validation only). Train and
validation are split from the remaining rows, stratified on the label and seeded: the same training set and
seed always give the same rows in each part.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mlops_kit.pipeline.usecase import load_use_case
from sagemaker_jobs.layout import processing_input, processing_output

SPLITS = ("train", "validation", "test")
# What each split is for, as the evaluation report states it beside every figure.
ROLES = {
    "train": "fits the candidate and the baselines",
    "validation": "model selection: the training job's learning curves and any tuning read it",
    "test": "the gate and the final figures: held out by row identity, never read before evaluation",
}


def holdout_mask(identity: pd.DataFrame, fraction: float) -> np.ndarray:
    """Rows whose identity hashes into the held-out ``fraction``: the same rows whatever the seed, and a row keeps
    its place when the training set grows. ``identity`` must not contain features or the label (they change)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the test fraction must be between 0 and 1, got {fraction}")
    if identity.shape[1] == 0:
        raise ValueError("no identity columns to hold the test split out by; the training set has only features")
    hashed = pd.util.hash_pandas_object(identity.reset_index(drop=True), index=False).to_numpy()
    return np.asarray((hashed % np.uint64(2**32)) < np.uint64(int(fraction * 2**32)))


def split(
    frame: pd.DataFrame,
    label: str,
    seed: int,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    *,
    identity: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Test by :func:`holdout_mask` of ``identity`` (rows aligned with ``frame`` by position; default: ``frame``
    without the label), then a stratified, seeded train/validation split of the rest; each row lands in one part."""
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    identity = frame.drop(columns=[label]) if identity is None else identity
    if len(identity) != len(frame):
        raise ValueError(f"identity has {len(identity)} rows for a frame of {len(frame)}")
    held_out = holdout_mask(identity, fractions[2])
    test, rest = frame[held_out], frame[~held_out]
    stratify = rest[label] if rest[label].nunique() > 1 and rest[label].value_counts().min() >= 3 else None
    share = fractions[1] / (fractions[0] + fractions[1])
    train, validation = train_test_split(rest, test_size=share, random_state=seed, stratify=stratify)
    return {"train": train.sort_index(), "validation": validation.sort_index(), "test": test.sort_index()}


def identity_columns(training_set: pd.DataFrame, manifest: dict[str, Any], label: str) -> list[str]:
    """The training set's label-side columns (ids, times, raw request fields): neither a feature nor the label."""
    features = {str(ref).split(":", 1)[-1] for ref in manifest.get("feature_refs", [])}
    return [c for c in training_set.columns if c not in features and c != label]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--use-case", required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--training-set", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=None, help="writes <output>/{train,validation,test}")
    args = parser.parse_args(argv)
    use_case = load_use_case(args.use_case)
    source = args.training_set or processing_input("training_set")
    training_set = pd.read_parquet(source / "training_set.parquet")
    manifest_path = source / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    model_frame = use_case.build_model_frame(training_set)
    columns = [*use_case.MODEL_FEATURES, use_case.LABEL]
    missing = [c for c in columns if c not in model_frame.columns]
    if missing:
        raise ValueError(f"build_model_frame of {args.use_case} did not produce {missing}")
    if len(model_frame) != len(training_set):
        raise ValueError(
            f"build_model_frame of {args.use_case} returned {len(model_frame)} rows for {len(training_set)}; "
            "it must keep one row per training-set row, in order (the test split is chosen by row identity)"
        )
    identity = training_set[identity_columns(training_set, manifest, use_case.LABEL)]
    parts = split(model_frame[columns].reset_index(drop=True), use_case.LABEL, args.seed, identity=identity)
    for name, part in parts.items():
        out = (args.output / name) if args.output else processing_output(name)
        out.mkdir(parents=True, exist_ok=True)
        part.to_parquet(out / f"{name}.parquet", index=False)
    sizes = {name: len(part) for name, part in parts.items()}
    print(f"preprocess: {sizes}")
    return sizes


if __name__ == "__main__":
    main()
