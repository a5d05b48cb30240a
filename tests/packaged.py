"""Real public tables that ship inside pip packages (no download), cut into contest files.

Each contest is `train.csv` (with the target), `test.csv` (without it) and `sample_submission.csv`, with
an `id` column, as a Kaggle contest ships them; the test rows' true targets are returned for scoring.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd


def penguins() -> pd.DataFrame:
    """Palmer penguins (344 rows): species, island and sex as strings, NaN in every measurement."""
    from palmerpenguins import load_penguins

    return load_penguins()


def cars() -> pd.DataFrame:
    """vega_datasets' cars (406 rows): Name and Origin as strings, Year as ISO dates, NaN in
    Miles_per_Gallon and Horsepower."""
    import vega_datasets

    path = Path(vega_datasets.__file__).parent / "_data" / "cars.json"
    return pd.DataFrame(json.loads(path.read_text()))


def seattle_weather() -> pd.DataFrame:
    """vega_datasets' Seattle weather (1,461 days): an ISO date, numbers, and the weather as a string class."""
    import vega_datasets

    return pd.read_csv(Path(vega_datasets.__file__).parent / "_data" / "seattle-weather.csv")


def write_contest_files(frame: pd.DataFrame, target: str, raw: Path, test_share: float = 0.25,
                        seed: int = 0) -> pd.Series:
    """Rows with a target, shuffled and split; the files written to `raw`; returns the test rows' targets."""
    frame = frame[frame[target].notna()].reset_index(drop=True)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    order = np.random.default_rng(seed).permutation(len(frame))
    n_test = int(len(frame) * test_share)
    test, train = frame.iloc[order[:n_test]], frame.iloc[order[n_test:]]
    raw.mkdir(parents=True, exist_ok=True)
    train.to_csv(raw / "train.csv", index=False)
    test.drop(columns=target).to_csv(raw / "test.csv", index=False)
    fill = train[target].mode().iloc[0]
    pd.DataFrame({"id": test["id"], target: fill}).to_csv(raw / "sample_submission.csv", index=False)
    return test.set_index("id")[target]
