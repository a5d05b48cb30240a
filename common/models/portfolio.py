"""Named model presets: a zero-shot portfolio of configurations that do well across many tables.

`models: portfolio` in config.yaml (or `- preset: portfolio` as one entry of the list, beside other models)
expands to the list below, each entry a normal `{name, params, label}` block with a distinct run label.
The idea is AutoGluon's (its `best_quality` trains a fixed portfolio chosen offline on many data sets
rather than tuning per contest); the list is our own, written for the kit's models:

- several shapes per gradient-boosting family, because which one wins differs from table to table and the
  blends of stage 07 gain most from members that disagree: LightGBM's usual shape, extra-trees splits
  (random thresholds: smoother, a different error pattern), many small leaves for large tables, and a
  heavily regularised one for small noisy tables; CatBoost at two depths; XGBoost at two depths;
- bagged trees (random forest, extra trees), k-NN at two weightings, a linear model and two MLPs, which
  rarely win alone but often earn a weight in a blend.

Learning rates are on the high side of what works (0.04-0.1 for the larger trees) so that a 2-core
machine fits all 16 on a few thousand rows in minutes; `budget_s` bounds the rest. Sizes follow the data,
not one contest: every boosting entry stops early on the validation fold (the
number of trees is whatever the fold needs), LightGBM's leaf sizes are a share of the training rows
(`min_child_frac`), and the bagged trees' `min_samples_leaf` is a fraction of the rows (scikit-learn reads
a float that way). `exclude` drops entries by label pattern (`- {preset: portfolio, exclude: [knn_*]}`).
"""
from __future__ import annotations

from fnmatch import fnmatch
from typing import Any

from common.errors import ConfigError, did_you_mean


def portfolio(task: str) -> list[dict[str, Any]]:
    """The full zero-shot portfolio for a task: 16 configurations over 8 families."""
    classify = task != "regression"
    linear = "logistic" if classify else "ridge"
    # bagged trees: whole features at each split for regression, the square root for classes (the usual
    # best choices); leaves of at least 0.01% of the rows, so a huge table does not grow a tree per row
    bagged = {"n_estimators": 300, "min_samples_leaf": 1e-4, "max_features": "sqrt" if classify else 1.0}
    return [
        {"name": linear, "label": linear},
        {"name": "lightgbm", "label": "lightgbm"},
        {"name": "lightgbm", "label": "lightgbm_xt",
         "params": {"extra_trees": True, "learning_rate": 0.05, "feature_fraction": 0.9, "min_child_samples": 10}},
        {"name": "lightgbm", "label": "lightgbm_large",
         "params": {"num_leaves": 128, "min_child_samples": 3, "min_child_frac": 0.001, "feature_fraction": 0.9,
                    "learning_rate": 0.05, "lambda_l2": 0.5}},
        {"name": "lightgbm", "label": "lightgbm_smooth",
         "params": {"num_leaves": 12, "min_child_frac": 0.02, "feature_fraction": 0.6, "lambda_l2": 8.0,
                    "learning_rate": 0.04, "bagging_fraction": 0.7}},
        {"name": "catboost", "label": "catboost"},
        {"name": "catboost", "label": "catboost_deep",
         "params": {"depth": 8, "l2_leaf_reg": 6.0, "learning_rate": 0.1, "one_hot_max_size": 8,
                    "max_ctr_complexity": 3, "random_strength": 0.5}},
        {"name": "xgboost", "label": "xgboost"},
        {"name": "xgboost", "label": "xgboost_deep",
         "params": {"max_depth": 9, "eta": 0.04, "min_child_weight": 0.5, "colsample_bytree": 0.65,
                    "subsample": 0.9, "reg_lambda": 2.0}},
        {"name": "xgboost", "label": "xgboost_shallow",
         "params": {"max_depth": 3, "eta": 0.05, "colsample_bytree": 0.8, "subsample": 0.8, "reg_lambda": 1.0}},
        {"name": "random_forest", "label": "random_forest", "params": dict(bagged)},
        {"name": "extra_trees", "label": "extra_trees", "params": dict(bagged)},
        {"name": "knn", "label": "knn_uniform", "params": {"n_neighbors": 10, "weights": "uniform"}},
        {"name": "knn", "label": "knn_distance", "params": {"n_neighbors": 10, "weights": "distance"}},
        {"name": "mlp", "label": "mlp"},
        {"name": "mlp", "label": "mlp_wide",
         "params": {"hidden": [256, 128], "dropout": 0.2, "weight_decay": 1e-4, "lr": 2e-3, "batch_size": 128,
                    "epochs": 60, "patience": 8}},
    ]


PRESETS = {"portfolio": portfolio}


def expand_models(models: Any, task: str) -> Any:
    """`models` as config.yaml wrote it -> a plain list of model blocks: a preset name, or list entries
    `{preset: NAME, exclude: [label patterns]}`, become the preset's blocks; other entries pass unchanged."""
    if isinstance(models, str):
        models = [{"preset": models}]
    if not isinstance(models, list):
        return models  # not ours to judge: the config's own validation names the type it wanted
    out: list[Any] = []
    for entry in models:
        if not (isinstance(entry, dict) and "preset" in entry):
            out.append(entry)
            continue
        extra = sorted(set(entry) - {"preset", "exclude"})
        if extra:
            raise ConfigError(f"models: a preset entry takes `preset` and `exclude`, not {extra}")
        name = entry["preset"]
        if name not in PRESETS:
            raise ConfigError(f"models: unknown preset {name!r}; presets: {sorted(PRESETS)}."
                              f"{did_you_mean(str(name), list(PRESETS))}")
        exclude = entry.get("exclude") or []
        if isinstance(exclude, str):
            exclude = [exclude]
        blocks = PRESETS[name](task)
        unmatched = [p for p in exclude if not any(fnmatch(b["label"], p) for b in blocks)]
        if unmatched:
            raise ConfigError(f"models: exclude {unmatched} matches no {name!r} entry; its labels: "
                              f"{[b['label'] for b in blocks]}")
        out += [b for b in blocks if not any(fnmatch(b["label"], p) for p in exclude)]
    return out
