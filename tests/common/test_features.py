import numpy as np
import pandas as pd

from common.config import Component
from common.data.datasets.steam import SHIFTED, make_steam
from common.features import FEATURES, FeatureContext, build_features
from common.data.folds import make_folds
from common.features.shift import ks_table


def _ctx(n, tmp_path):
    return FeatureContext("target", (), "regression", make_folds(n, "kfold", 3), 0, tmp_path)


def test_drop_shifted_removes_the_planted_shift(tmp_path):
    train, test = make_steam(600, 400, seed=0)
    fs = build_features(train, test, [Component(name="drop_shifted", params={"threshold": 0.2})], _ctx(600, tmp_path),
                        tmp_path / "cache", "data", log=lambda _: None)
    dropped = set(train.columns) - set(fs.X.columns) - {"target"}
    assert dropped == set(SHIFTED)
    assert list(fs.X.columns) == list(fs.X_test.columns) and "target" not in fs.X


def test_steps_are_cached_and_reused(tmp_path):
    train, test = make_steam(200, 100, seed=0)
    calls = []

    @FEATURES.register("counting_step_for_tests")
    def counting(train, test, ctx, factor=2.0):
        calls.append(factor)
        return train.assign(V0x=train["V0"] * factor), test.assign(V0x=test["V0"] * factor)

    steps = [Component(name="scale", params={"method": "standard"}), Component(name="counting_step_for_tests")]
    first = build_features(train, test, steps, _ctx(200, tmp_path), tmp_path, "data", log=lambda _: None)
    again = build_features(train, test, steps, _ctx(200, tmp_path), tmp_path, "data", log=lambda _: None)
    assert calls == [2.0]
    pd.testing.assert_frame_equal(first.X, again.X)
    other = [steps[0], Component(name="counting_step_for_tests", params={"factor": 3.0})]
    build_features(train, test, other, _ctx(200, tmp_path), tmp_path, "data", log=lambda _: None)
    assert calls == [2.0, 3.0]  # new params: only that step reruns
    build_features(train, test, steps, _ctx(200, tmp_path), tmp_path, "other-data", log=lambda _: None)
    assert calls == [2.0, 3.0, 2.0]  # new data: the cache key changes


def test_cached_step_tables_give_back_every_dtype_and_replace_a_parquet_cache(tmp_path):
    """Categories (an unseen test level too), text, NaN, nullable ints and a non-default index come back from the
    step cache as the step returned them (index reset); a step folder of the parquet-era kit is made again."""
    train = pd.DataFrame({"target": [0.5, 1.5, 2.5, 3.5], "city": pd.Categorical(["a", "b", None, "a"]),
                          "note": pd.array(["x", None, "zz", "y"], dtype="str"), "n": pd.array([1, None, 3, 4], dtype="Int64"),
                          "v": [1.0, np.nan, 3.0, 4.0]}, index=[10, 11, 12, 13])
    test = train.drop(columns="target").assign(city=pd.Categorical(["c", "a", "b", None]))
    calls = []

    @FEATURES.register("identity_step_for_tests")
    def identity(train, test, ctx):
        calls.append(1)
        return train, test

    steps = [Component(name="identity_step_for_tests")]
    ctx = FeatureContext("target", (), "regression", make_folds(4, "kfold", 2), 0, tmp_path)
    build_features(train, test, steps, ctx, tmp_path, "data", log=lambda _: None)
    (step_dir,) = tmp_path.glob("00-identity_step_for_tests-*")
    assert sorted(p.name for p in step_dir.iterdir()) == ["done.json", "test.arrow", "train.arrow"]
    from common.data.io import read_arrow

    pd.testing.assert_frame_equal(read_arrow(step_dir / "train.arrow"), train.reset_index(drop=True))
    pd.testing.assert_frame_equal(read_arrow(step_dir / "test.arrow"), test.reset_index(drop=True))
    build_features(train, test, steps, ctx, tmp_path, "data", log=lambda _: None)
    assert calls == [1]  # read from the cache
    for name in ("train", "test"):  # as the parquet-era kit left it: done.json beside parquet tables
        (step_dir / f"{name}.arrow").rename(step_dir / f"{name}.parquet")
    build_features(train, test, steps, ctx, tmp_path, "data", log=lambda _: None)
    assert calls == [1, 1] and sorted(p.name for p in step_dir.iterdir()) == ["done.json", "test.arrow", "train.arrow"]


def test_a_step_that_caches_itself_gets_no_tables_and_runs_only_when_needed(tmp_path):
    """Its result is stored once (by the step): no step tables; a rerun whose later step is cached skips it,
    one whose later step changed runs it again (from its own cache, in a real step) before that step."""
    train, test = make_steam(200, 100, seed=0)
    calls, messages = [], []

    @FEATURES.register("self_caching_step_for_tests")
    def own(train, test, ctx):
        calls.append("own")
        return train.assign(V0y=train["V0"] + 1), test.assign(V0y=test["V0"] + 1)

    own.caches_itself = True
    steps = [Component(name="self_caching_step_for_tests"), Component(name="scale", params={"method": "standard"})]
    first = build_features(train, test, steps, _ctx(200, tmp_path), tmp_path, "data", log=messages.append)
    assert calls == ["own"] and "V0y" in first.X and "cached by the step itself" in messages[0]
    assert sorted(p.name.split("-")[1] for p in tmp_path.glob("0*")) == ["scale"]  # no tables for the self-caching step
    again = build_features(train, test, steps, _ctx(200, tmp_path), tmp_path, "data", log=messages.append)
    assert calls == ["own"] and any("self_caching_step_for_tests: cached (in the tables of scale)" in m for m in messages)
    pd.testing.assert_frame_equal(first.X, again.X)
    changed = [steps[0], Component(name="scale", params={"method": "minmax"})]
    build_features(train, test, changed, _ctx(200, tmp_path), tmp_path, "data", log=lambda _: None)
    assert calls == ["own", "own"]
    only = build_features(train, test, steps[:1], _ctx(200, tmp_path), tmp_path, "data", log=lambda _: None)
    assert calls == ["own", "own", "own"] and "V0y" in only.X  # the last step: run, never skipped


def test_scale_and_power_transform(tmp_path):
    train, test = make_steam(300, 200, seed=0)
    ctx = _ctx(300, tmp_path)
    tr, te = FEATURES.get("scale")(train, test, ctx, method="minmax")
    both = pd.concat([tr, te]).drop(columns="target")
    assert np.allclose(both.min(), 0) and np.allclose(both.max(), 1)
    assert (tr["target"] == train["target"]).all()  # the target is never transformed
    tr, te = FEATURES.get("power_transform")(tr, te, ctx, method="box-cox")
    both = pd.concat([tr, te]).drop(columns="target")
    assert np.allclose(both.mean(), 0, atol=1e-6) and np.allclose(both.std(ddof=0), 1, atol=1e-3)


def test_steam_generator_has_the_real_schema_and_planted_shift():
    train, test = make_steam(seed=0)
    assert train.shape == (2888, 39) and test.shape == (1925, 38)
    assert list(test.columns) == [f"V{i}" for i in range(38)] and train.columns[-1] == "target"
    table = ks_table(train.drop(columns="target"), test)
    assert set(table["feature"].head(6)) == set(SHIFTED)
    assert table.set_index("feature").drop(index=list(SHIFTED))["ks"].max() < 0.1
    corr = train.drop(columns="target").corr().abs().to_numpy()
    assert np.mean(corr[np.triu_indices(38, 1)]) > 0.2  # correlated sensors, as in the real data


def test_oof_target_encoding_never_sees_a_rows_own_fold(tmp_path):
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"shop": rng.integers(0, 5, 300), "target": rng.integers(0, 2, 300)})
    test = pd.DataFrame({"shop": [0, 1, 99]})  # 99 never seen in train
    ctx = _ctx(300, tmp_path)
    tr, te = FEATURES.get("oof_target_encoding")(train, test, ctx, columns=["shop"], smoothing=10.0)

    def smoothed(fit, shop):
        prior, rows = fit["target"].mean(), fit.loc[fit["shop"] == shop, "target"]
        return (rows.sum() + prior * 10.0) / (len(rows) + 10.0)

    for fit_idx, valid_idx in ctx.folds.splits():
        fit = train.iloc[fit_idx]
        expected = [smoothed(fit, shop) for shop in train["shop"].iloc[valid_idx]]
        assert np.allclose(tr["te_shop"].iloc[valid_idx], expected)
    assert np.allclose(te["te_shop"][:2], [smoothed(train, 0), smoothed(train, 1)])
    assert te["te_shop"].iloc[2] == train["target"].mean()  # an unseen value gets the prior
    assert "te_shop" not in train  # the inputs are not modified


def test_the_feature_set_hands_a_text_column_in_one_chunk(tmp_path):
    """A document column read in pieces reaches the fold loop as one chunk (common.data.io.one_chunk)."""
    def frame(n, labelled):
        docs = [" ".join(str((i * j) % 97) for j in range(30)) for i in range(n)]  # documents, not categories
        texts = pd.concat([pd.Series(docs[: n // 2], dtype="str"), pd.Series(docs[n // 2:], dtype="str")],
                          ignore_index=True)
        return pd.DataFrame({"text": texts, **({"label": np.arange(n) % 2} if labelled else {})})

    train, test = frame(40, True), frame(10, False)
    assert train["text"].array.__arrow_array__().num_chunks == 2
    ctx = FeatureContext("label", (), "binary", make_folds(40, "kfold", 2), 0, tmp_path, modality="text")
    fs = build_features(train, test, [], ctx, tmp_path / "cache", "data", log=lambda _: None)
    assert list(fs.X.columns) == ["text"]
    for X, source in ((fs.X, train), (fs.X_test, test)):
        assert X["text"].array.__arrow_array__().num_chunks == 1
        assert X["text"].tolist() == source["text"].tolist()
