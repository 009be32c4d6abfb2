"""Apply the use case's transformations and split deterministically into train / validation / test.

The split is stratified on the label and seeded, so the same training set and seed always give the same
rows in each split; the test split is only used for the final evaluation report.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.model_selection import train_test_split

from mlops_kit.pipeline.usecase import load_use_case
from sagemaker_jobs.layout import processing_input, processing_output

SPLITS = ("train", "validation", "test")


def split(
    frame: pd.DataFrame, label: str, seed: int, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> dict[str, pd.DataFrame]:
    """Stratified, seeded split; each row lands in exactly one part."""
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    stratify = frame[label] if frame[label].nunique() > 1 and frame[label].value_counts().min() >= 3 else None
    rest, test = train_test_split(frame, test_size=fractions[2], random_state=seed, stratify=stratify)
    stratify_rest = rest[label] if stratify is not None else None
    share = fractions[1] / (fractions[0] + fractions[1])
    train, validation = train_test_split(rest, test_size=share, random_state=seed, stratify=stratify_rest)
    return {"train": train.sort_index(), "validation": validation.sort_index(), "test": test.sort_index()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--use-case", required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--training-set", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=None, help="writes <output>/{train,validation,test}")
    args = parser.parse_args(argv)
    use_case = load_use_case(args.use_case)
    source = args.training_set or processing_input("training_set")
    model_frame = use_case.build_model_frame(pd.read_parquet(source / "training_set.parquet"))
    columns = [*use_case.MODEL_FEATURES, use_case.LABEL]
    missing = [c for c in columns if c not in model_frame.columns]
    if missing:
        raise ValueError(f"build_model_frame of {args.use_case} did not produce {missing}")
    parts = split(model_frame[columns], use_case.LABEL, args.seed)
    for name, part in parts.items():
        out = (args.output / name) if args.output else processing_output(name)
        out.mkdir(parents=True, exist_ok=True)
        part.to_parquet(out / f"{name}.parquet", index=False)
    sizes = {name: len(part) for name, part in parts.items()}
    print(f"preprocess: {sizes}")
    return sizes


if __name__ == "__main__":
    main()
