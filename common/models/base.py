"""The one interface every model implements, from ridge to a GPU transformer.

    model = create_model(Component(name="lightgbm", params={...}), task="binary", seed=0)
    model.fit(X_train, y_train, X_valid, y_valid, workdir=fold_dir)   # returns self
    model.predict(X)   # regression: values; binary: P(y=1); multiclass: (n, k) probabilities

`X` is whatever the features stage produced (a DataFrame for tabular contests, a frame of texts or
image paths for the deep ones): the fold loop only slices rows. The validation fold is there for
early stopping; `workdir` is a scratch folder inside the run for checkpoints. Before `fit` the fold loop
sets `model.metric` (the contest's common.metrics.Metric, None outside it): a model that picks a best
iteration may pick it on the metric instead of its loss (the torch models do, `monitor: metric`). It also
sets `model.unlabelled` (the test inputs, which have no labels) and `model.cache_dir` (a folder that outlives
the fold, the contest's cache/pretrained, or None): a model that learns from unlabelled rows (bert's masked-LM
pre-training on all the text) uses them and keeps what every fold shares there. And `model.annotations`: the
training rows' label-derived columns (digit boxes), indexed like X, to guide training (an image model crops
around the boxes); they are never features. All are None outside a fold loop.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

from common.registry import Registry

MODELS: Registry[Any] = Registry("model")


class Model:
    """Base class: the constructor only stores parameters (as in scikit-learn)."""

    #: tasks this model can learn; checked before fitting so a wrong config fails early
    tasks: tuple[str, ...] = ("regression", "binary", "multiclass")
    #: input roles it reads; the fold loop hands it only those columns (text stays away from a GBDT)
    takes: frozenset[str] = frozenset({"numeric", "categorical"})
    #: the contest metric for model selection on the validation fold, set by the fold loop (common.runs.train)
    metric: Any = None
    #: inputs without labels (the test rows) and a folder shared by every fold, set by the fold loop
    unlabelled: Any = None
    cache_dir: Path | None = None
    #: the training rows' label-derived columns (a DataFrame indexed like X), set by the fold loop
    annotations: Any = None

    def __init__(self, task: str = "regression", seed: int = 0, n_classes: int | None = None, **params: Any):
        self.task = task
        self.seed = seed
        self.n_classes = n_classes
        self.params = params
        #: facts worth keeping in the run's meta (best iteration, epochs, ...), filled by fit
        self.info: dict[str, Any] = {}

    def fit(
        self,
        X: Any,
        y: np.ndarray,
        X_valid: Any = None,
        y_valid: np.ndarray | None = None,
        workdir: Path | None = None,
    ) -> Model:
        raise NotImplementedError

    def predict(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def check_task(self) -> None:
        if self.task not in self.tasks:
            raise ValueError(
                f"model {type(self).__name__} handles {self.tasks}, not task {self.task!r}; "
                "pick another model in config.yaml"
            )

    def classes(self, y: np.ndarray) -> int:
        """Number of classes for multiclass tasks (config value, else the labels seen)."""
        return int(self.n_classes or (int(np.max(y)) + 1))


def create_model(spec: Any, task: str, seed: int = 0, n_classes: int | None = None,
                 target_transform: str | None = None) -> Model:
    """Build the model a config block `{name, params}` describes; `target_transform` (regression) wraps it
    so it learns the transformed target and predicts on the original scale (common.models.target)."""
    import common.models  # noqa: F401  (fills the registry)

    check_params(spec)
    model = MODELS.create(spec.name, task=task, seed=seed, n_classes=n_classes, **spec.params)
    model.check_task()
    if target_transform and task == "regression":
        from common.models.target import TransformedTarget

        return TransformedTarget(model, target_transform)
    return model


def accepted_params(name: str) -> set[str] | None:
    """The params a registered model takes; None when it hands unknown ones to its library, which
    checks them itself (the GBDTs set `open_params`)."""
    factory = MODELS.get(name)
    if hasattr(factory, "accepts"):  # a factory may name them (the sklearn family does)
        return set(factory.accepts())
    if getattr(factory, "open_params", False):
        return None
    names = set()
    for cls in factory.__mro__:  # every constructor up to Model, whose **params would swallow a typo
        if cls is Model or cls is object:
            break
        if "__init__" in vars(cls):
            names |= {p.name for p in inspect.signature(cls.__init__).parameters.values()
                      if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return names - {"self", "task", "seed", "n_classes"}


def check_params(spec: Any) -> None:
    """An unknown param is a config error naming it (a typo would otherwise be silently ignored)."""
    from common.errors import ConfigError, did_you_mean

    accepted = accepted_params(spec.name)
    if accepted is None:
        return
    unknown = sorted(set(spec.params) - accepted)
    if unknown:
        hints = "".join(did_you_mean(u, accepted) for u in unknown)
        raise ConfigError(f"model {spec.name!r} has no param(s) {unknown}; it takes {sorted(accepted)}.{hints}")


def input_roles(X: Any) -> dict[str, str]:
    """The role of each column of a feature frame as models see it: numeric, categorical (pandas category
    dtype), text (strings), or what `X.attrs["roles"]` marks (images)."""
    import pandas as pd

    marked = X.attrs.get("roles", {})
    roles = {}
    for column in X.columns:
        dtype = X[column].dtype
        roles[column] = marked.get(column) or (
            "categorical" if isinstance(dtype, pd.CategoricalDtype) else
            "numeric" if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype) else "text")
    return roles


def model_inputs(X: Any, takes: frozenset[str]) -> Any:
    """The columns of a frame a model reads: those whose role (`input_roles`) the model takes."""
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        return X
    keep = [column for column, role in input_roles(X).items() if role in takes]
    return X if len(keep) == X.shape[1] else X[keep]
