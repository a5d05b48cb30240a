"""config.yaml -> validated, frozen objects. Unknown keys are errors, with a 'did you mean'.

Every pluggable part (feature step, model, ensembler, train filter) is a `{name, params}` block
resolved later by the registry of its kind.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from common.errors import ConfigError, did_you_mean

TASKS = ("regression", "binary", "multiclass", "sequence")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Component(_Frozen):
    """A named, parametrised part: `{name: lightgbm, params: {...}}`. `label` names its run."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None

    @property
    def run_label(self) -> str:
        return self.label or self.name


class CompetitionSection(_Frozen):
    name: str
    task: Literal["regression", "binary", "multiclass", "sequence"]  # sequence: strings, per position (common.data.sequence)
    metric: str
    platform: Literal["kaggle", "tianchi"] = "kaggle"
    kaggle_slug: str | None = None
    url: str | None = None  # the contest's web page; `compkit submit` names it as where to upload (Tianchi)
    n_classes: int | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        from common.metrics import METRICS

        METRICS.get(value)  # raises with the list of metrics and a suggestion
        return value


class DataSection(_Frozen):
    train: str
    test: str
    sep: str = ","
    id_column: str | list[str] | None = None  # a list for a composite key, e.g. [user_id, merchant_id]
    target: str
    # Column roles are inferred (stage 01 lists them); override any: {column: numeric|categorical|text|date|drop}.
    # annotation: label-derived, train-only columns (digit boxes) a model may use in training, never as features
    roles: dict[str, Literal["numeric", "categorical", "text", "date", "drop", "annotation"]] = Field(default_factory=dict)
    categorical: list[str] = Field(default_factory=list)  # shorthand for roles {column: categorical}
    # How the regression target is modelled: fitted per fold, inverted before scoring and submitting.
    target_transform: Literal["log1p", "box-cox", "yeo-johnson", "standardize"] | None = None
    encoding: str | None = None  # of the raw files; detected (UTF-8, then GB18030/GBK) when not given
    inf: Literal["error", "missing"] = "error"  # +/-inf in a feature: stop at stage 01, or read as missing
    sample_submission: str | None = None  # used when the file exists: columns, ids, order and value type
    # An official validation file in the train file's format (street chars' mchar_val.json): its rows join
    # train, marked in the column `is_valid`, and folds.scheme: holdout validates on them.
    valid: str | None = None
    valid_image_dir: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)
    # What one example is; load_raw and the EDA report dispatch on it.
    #   tabular: a row of numeric/categorical columns (the default).
    #   text:    a row whose `text_column` holds a document, tokens separated by spaces (news).
    #   image:   an image; `train` (and `test`, or a CSV whose file_name column lists the test
    #            images) are mchar-format label JSONs {file: {label, left, top, width, height}},
    #            the images lie in `image_dir` (train) and `test_image_dir`; without those folders
    #            only the labels and boxes are read.
    modality: Literal["tabular", "text", "image"] = "tabular"
    text_column: str | None = None
    image_dir: str | None = None
    test_image_dir: str | None = None

    @model_validator(mode="after")
    def _modality_keys(self) -> DataSection:
        if self.modality == "text" and not self.text_column:
            raise ValueError("data.modality 'text' needs data.text_column (the column holding the documents)")
        if self.modality != "image" and (self.image_dir or self.test_image_dir):
            raise ValueError("data.image_dir / data.test_image_dir need data.modality: image")
        return self

    @property
    def role_overrides(self) -> dict[str, str]:
        return {**{c: "categorical" for c in self.categorical}, **self.roles}

    @property
    def id_columns(self) -> list[str]:
        if self.id_column is None:
            return []
        return [self.id_column] if isinstance(self.id_column, str) else list(self.id_column)


class FoldsSection(_Frozen):
    # holdout: one fold, the official validation rows (data.valid's file, or folds.holdout_column's truthy rows)
    scheme: Literal["kfold", "stratified", "group", "stratified_group", "time", "holdout"] = "kfold"
    n_splits: int = Field(5, ge=2)
    # repeated bagging: each model is also fitted on n_repeats - 1 re-splits (other seeds), its OOF averaged
    # over the repeats and its test predictions over all fold models; shuffled schemes only
    n_repeats: int = Field(1, ge=1)
    seed: int = 42
    group_column: str | None = None
    time_column: str | None = None
    holdout_column: str | None = None

    @model_validator(mode="after")
    def _columns_for_scheme(self) -> FoldsSection:
        if self.scheme in ("group", "stratified_group") and not self.group_column:
            raise ValueError(f"folds.scheme {self.scheme!r} needs folds.group_column")
        if self.scheme == "time" and not self.time_column:
            raise ValueError("folds.scheme 'time' needs folds.time_column")
        if self.scheme != "holdout" and self.holdout_column:
            raise ValueError("folds.holdout_column needs folds.scheme: holdout")
        if self.n_repeats > 1 and self.scheme in ("holdout", "time"):
            raise ValueError(f"folds.n_repeats needs a shuffled scheme: {self.scheme!r} has one fixed split, so a "
                             "repeat would fit the same rows again. Remove folds.n_repeats (or set it to 1)")
        return self


class TrainSection(_Frozen):
    filter: Component | None = None
    runs_dir: str = "runs"


class SelectionSection(_Frozen):
    """Stage 06's feature selection (common.selection); its kept list feeds the `select_features` step."""

    method: Literal["permutation", "null"] = "permutation"
    model: Component | None = None  # default: optimize.model, else lightgbm
    n_repeats: int = Field(3, ge=1)  # shuffles per column and fold (permutation) or per fold (null)
    threshold: float | None = None  # keep columns scoring above it; default 2.0 (permutation), by CV (null)


class OptimizeSection(_Frozen):
    model: Component | None = None
    n_trials: int = Field(0, ge=0)
    timeout_s: float | None = None
    storage: str | None = None
    study_name: str | None = None
    space: dict[str, dict[str, Any]] = Field(default_factory=dict)
    pruner_warmup_folds: int = Field(1, ge=0)
    selection: SelectionSection | None = None


class EnsembleSection(_Frozen):
    strategies: list[Component] = Field(
        default_factory=lambda: [Component(name=n) for n in ("mean", "weighted", "hill_climb", "stacking")]
    )
    choose: str = "best"
    runs: list[str] = Field(default_factory=lambda: ["*"])


class SubmissionSection(_Frozen):
    format: Literal["csv", "lines"] = "csv"
    # What the file holds: class probabilities, labels (binary: threshold chosen on the OOF predictions for
    # the metric; multiclass: argmax, see class_weights; both in the train file's own label values) or values.
    # `auto`: from the metric (probabilities for auc/logloss, labels for accuracy/f1/mcc/qwk, values for regression).
    kind: Literal["auto", "probability", "label", "value"] = "auto"
    # Multiclass labels for a label metric (macro-F1 above all): label = argmax(p * w), per-class weights w tuned
    # on the OOF predictions. auto: used only when their cross-fitted gain on the folds is beyond the fold-to-fold
    # noise (common.submissions.class_weights); none: the plain argmax, nothing tuned.
    class_weights: Literal["auto", "none"] = "auto"
    file_name: str = "submission.csv"
    columns: list[str] | None = None
    float_format: str | None = None
    # Tianchi uploads by hand: `compkit submit` copies the file to submissions/upload/<upload_name>
    # (default: file_name), or with `zip: true` packs it as <upload_name stem>.zip.
    upload_name: str | None = None
    zip: bool = False


class Config(_Frozen):
    competition: CompetitionSection
    data: DataSection
    folds: FoldsSection = FoldsSection()
    features: list[Component] = Field(default_factory=list)
    # model blocks; `portfolio` (a preset name) or `- preset: portfolio` entries expand (common.models.portfolio)
    models: list[Component]
    train: TrainSection = TrainSection()
    optimize: OptimizeSection = OptimizeSection()
    ensemble: EnsembleSection = EnsembleSection()
    submission: SubmissionSection = SubmissionSection()
    seed: int = 42
    # seconds for stages 04-07 together, shared among the models (common.runs.budget); null: no budget
    budget_s: float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _expand_presets(cls, raw: Any) -> Any:
        """`models: portfolio` or `- preset: portfolio` entries -> the preset's model blocks (common.models.portfolio)."""
        if not isinstance(raw, dict) or "models" not in raw:
            return raw
        models = raw["models"]
        presets = isinstance(models, str) or (
            isinstance(models, list) and any(isinstance(m, dict) and "preset" in m for m in models))
        if not presets:
            return raw
        from common.models.portfolio import expand_models

        competition = raw.get("competition")
        task = competition.get("task", "regression") if isinstance(competition, dict) else "regression"
        try:
            return {**raw, "models": expand_models(models, task)}
        except ConfigError as exc:  # reported with the file's name, like every other config error
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _holdout_rows(self) -> Config:
        if self.folds.scheme == "holdout" and not (self.folds.holdout_column or self.data.valid):
            raise ValueError("folds.scheme 'holdout' needs data.valid (a validation file) or folds.holdout_column")
        return self

    @model_validator(mode="after")
    def _unique_run_labels(self) -> Config:
        labels = [m.run_label for m in self.models]
        dupes = sorted({lbl for lbl in labels if labels.count(lbl) > 1})
        if dupes:
            raise ValueError(f"models: labels {dupes} appear twice; give each a distinct `label:`")
        return self


def load_config(path: str | Path) -> Config:
    """Read and validate a contest's config.yaml; ConfigError names the file, the key and the fix."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}. Run the stage from a contest folder made by cookiecutter.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of sections (competition, data, models, ...).")
    return parse_config(raw, source=str(path))


def parse_config(raw: dict[str, Any], source: str = "config") -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source} is invalid:\n" + _explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            parent = _fields_at(err["loc"][:-1])
            key = err["loc"][-1]
            allowed = ", ".join(sorted(parent)) if parent else "see the template's config.yaml"
            lines.append(f"  - unknown key {loc!r} (allowed here: {allowed}).{did_you_mean(str(key), parent)}")
        elif err["type"] == "missing":
            lines.append(f"  - missing required key {loc!r}")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            got = err.get("input")
            shown = f"; got {got!r}" if got is not None and not isinstance(got, dict) else ""
            lines.append(f"  - {loc or '(top level)'}: {msg}{shown}")
    return "\n".join(lines)


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model reached by following `loc` from Config (for suggestions)."""
    model: Any = Config
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        inner = getattr(annotation, "__args__", None)
        candidates = [annotation, *(inner or [])]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return []
    return list(getattr(model, "model_fields", {}))
