"""Train-versus-test shift: per-feature KS statistics and adversarial validation."""
from __future__ import annotations

import numpy as np
import pandas as pd


def ks_table(train: pd.DataFrame, test: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Two-sample Kolmogorov-Smirnov statistic and p-value per numeric column, most shifted first."""
    from scipy import stats  # here, not at the top: every stage imports this module, few call it (~1 s)

    columns = columns or [c for c in train.columns if c in test.columns and pd.api.types.is_numeric_dtype(train[c])]
    rows = []
    for col in columns:
        a, b = train[col].dropna().to_numpy(), test[col].dropna().to_numpy()
        if len(a) == 0 or len(b) == 0:
            continue
        res = stats.ks_2samp(a, b)
        rows.append({"feature": col, "ks": float(res.statistic), "p_value": float(res.pvalue),
                     "train_mean": float(a.mean()), "test_mean": float(b.mean())})
    table = pd.DataFrame(rows, columns=["feature", "ks", "p_value", "train_mean", "test_mean"])
    return table.sort_values("ks", ascending=False, ignore_index=True)


def adversarial_validation(train: pd.DataFrame, test: pd.DataFrame, columns: list[str], seed: int = 0,
                           n_splits: int = 5) -> tuple[float, pd.DataFrame]:
    """AUC of a LightGBM classifier telling train rows from test rows, and its feature importances.

    AUC near 0.5 means test looks like train; near 1 means a model can tell them apart, and the top
    features are the ones drifting.
    """
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    X = pd.concat([train[columns], test[columns]], ignore_index=True)
    y = np.r_[np.zeros(len(train)), np.ones(len(test))]
    oof = np.zeros(len(y))
    importance = np.zeros(len(columns))
    params = dict(objective="binary", learning_rate=0.05, num_leaves=15, min_child_samples=20,
                  feature_fraction=0.8, verbosity=-1, seed=seed, deterministic=True, force_col_wise=True)
    for tr, va in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(X, y):
        booster = lgb.train(params, lgb.Dataset(X.iloc[tr], y[tr]), 200)
        oof[va] = booster.predict(X.iloc[va])
        importance += booster.feature_importance("gain")
    table = pd.DataFrame({"feature": columns, "importance": importance / n_splits})
    return float(roc_auc_score(y, oof)), table.sort_values("importance", ascending=False, ignore_index=True)
