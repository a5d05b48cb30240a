"""Multi-layer stacking with skip connections (AutoGluon's stack ensembling): the stage 07 strategy `multilayer`.

Level 2: models (any of the registry, `create_model`) fitted on the level-1 runs' OOF predictions plus the
original features (the skip connection: a level-2 model can correct a run where the features say it errs),
each with its own out-of-fold predictions from an inner CV on the rows it is given. Level 3: a greedy
weighted ensemble (hill climbing) of the level-2 models on that inner OOF. `common.ensemble.blend`
cross-fits the whole strategy on the contest's folds, so the level-2 models of outer fold k are fitted
only on the other folds' rows and the score in the comparison table is as honest as a single run's.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from common.config import Component
from common.ensemble import ENSEMBLERS, Ensembler, HillClimb

#: the level-1 prediction columns' prefix in a level-2 model's input (kept apart from feature names)
PREFIX = "__level1_"


def default_models(task: str) -> list[dict]:
    """A shallow LightGBM (few leaves, fixed rounds: there is no eval set in the final fit) and a linear model."""
    linear = {"name": "ridge", "params": {"alpha": 1.0}} if task == "regression" else {"name": "logistic", "params": {"C": 1.0}}
    gbm = {"name": "lightgbm", "params": {"learning_rate": 0.05, "num_leaves": 7, "n_estimators": 200,
                                          "min_child_samples": 20, "early_stopping_rounds": 0}}
    return [gbm, linear]


@ENSEMBLERS.register("multilayer")
class SkipStacking(Ensembler):
    """Level-2 models on the runs' OOF predictions plus the features, then hill climbing over the level-2 models.

    `models`: the level-2 model blocks ({name, params}); `inner_splits`: the inner CV that makes their OOF;
    `skip`: feed the original features too (false: predictions only); `iterations`: hill-climbing steps.
    `fit(P, y, X)` / `predict(P, X)` take the features' rows matching P's (`uses_features`).
    """

    learns = True

    def __init__(self, metric, task, seed=0, models: list[dict] | None = None, inner_splits: int = 5,
                 skip: bool = True, iterations: int = 50):
        super().__init__(metric, task, seed)
        self.models = [Component.model_validate(m) for m in (models or default_models(task))]
        self.inner_splits, self.skip, self.iterations = inner_splits, skip, iterations
        self.uses_features = skip

    def fit(self, P: np.ndarray, y: np.ndarray, X: Any = None) -> SkipStacking:
        from sklearn.model_selection import KFold, StratifiedKFold

        Z, y = self.inputs(P, X), np.asarray(y)
        n_classes = P.shape[2] if P.ndim == 3 else None
        splitter = (KFold if self.task == "regression" else StratifiedKFold)(self.inner_splits, shuffle=True,
                                                                             random_state=self.seed)
        inner = list(splitter.split(np.zeros(len(y)), y))
        level2 = []
        for spec in self.models:
            oof = None
            for tr, va in inner:
                pred = self._predict(self._fit(spec, Z.iloc[tr], y[tr], n_classes), Z.iloc[va])
                oof = np.zeros((len(y), *pred.shape[1:])) if oof is None else oof
                oof[va] = pred
            level2.append(oof)
        self.level2_ = [self._fit(spec, Z, y, n_classes) for spec in self.models]
        self.top_ = HillClimb(self.metric, self.task, self.seed, self.iterations).fit(np.stack(level2, axis=1), y)
        self.weights_ = self.top_.weights_  # of the level-2 models, in `models` order (the table's weights column)
        return self

    def predict(self, P: np.ndarray, X: Any = None) -> np.ndarray:
        Z = self.inputs(P, X)
        return self.top_.predict(np.stack([self._predict(m, Z) for m in self.level2_], axis=1))

    def inputs(self, P: np.ndarray, X: Any = None) -> pd.DataFrame:
        """What a level-2 model reads: one column per run (per run and class for multiclass), then the features."""
        flat = P.reshape(len(P), -1)
        names = ([f"{PREFIX}{j}" for j in range(P.shape[1])] if P.ndim == 2 else
                 [f"{PREFIX}{j}_{c}" for j in range(P.shape[1]) for c in range(P.shape[2])])
        level1 = pd.DataFrame(flat, columns=names)
        if not self.skip:
            return level1
        if not isinstance(X, pd.DataFrame) or len(X) != len(P):
            got = "nothing" if X is None else f"{type(X).__name__} of {len(X)} rows"
            raise ValueError(f"the multilayer strategy with skip: true feeds the features to its level-2 models: it "
                             f"needs a DataFrame of the {len(P)} rows of P; got {got}. Pass compare(..., X=fs.X, "
                             "X_test=fs.X_test), or set skip: false.")
        return pd.concat([level1, X.reset_index(drop=True)], axis=1)

    def _fit(self, spec: Component, Z: pd.DataFrame, y: np.ndarray, n_classes: int | None):
        from common.models.base import create_model, model_inputs

        model = create_model(spec, self.task, self.seed, n_classes)
        return model.fit(model_inputs(Z, model.takes), y)  # only the columns it takes (no text for a GBDT)

    @staticmethod
    def _predict(model, Z: pd.DataFrame) -> np.ndarray:
        from common.models.base import model_inputs

        return np.asarray(model.predict(model_inputs(Z, model.takes)), dtype=np.float64)
