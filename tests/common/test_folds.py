"""Fold assignments: the stratified group folds' guarantees (groups whole, classes and sizes balanced, seeded),
measured against sklearn's StratifiedGroupKFold on the same data; saving and loading with the hash."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import StratifiedGroupKFold

from common.errors import ConfigError, FoldMismatchError
from common.data.folds import _unique_rows, load_folds, make_folds, save_folds, stratified_group_folds


def tmall_like(n_users: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Users with 1 to ~18 rows (1.2 on average), 6 % positive, the label leaning on the user."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(rng.permutation(n_users) * 7 + 100, np.minimum(rng.geometric(0.8, n_users), 18))
    taste = rng.normal(size=n_users * 7 + 100)[groups]
    y = (taste + rng.logistic(size=len(groups)) > 3.2).astype(int)
    return y, groups


def mixed(n: int, n_groups: int, class_shares: list[float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows spread over groups at random, so most groups hold several classes."""
    rng = np.random.default_rng(seed)
    return rng.choice(len(class_shares), n, p=class_shares), rng.integers(0, n_groups, n)


def class_deviation(fold: np.ndarray, y: np.ndarray) -> float:
    """The worst fold's largest gap between a class's share in the fold and in all rows."""
    overall = np.array([(y == c).mean() for c in np.unique(y)])
    return max(np.abs(np.array([(y[fold == f] == c).mean() for c in np.unique(y)]) - overall).max()
               for f in range(fold.max() + 1))


def sklearn_folds(y, groups, n_splits, seed) -> np.ndarray:
    fold = np.empty(len(y), dtype=int)
    for k, (_, valid) in enumerate(StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed).split(y, y, groups)):
        fold[valid] = k
    return fold


def assert_groups_whole(fold: np.ndarray, groups: np.ndarray) -> None:
    _, first = np.unique(groups, return_index=True)
    by_group = dict(zip(groups[first], fold[first]))
    assert all(by_group[g] == f for g, f in zip(groups, fold))


DATA = {
    "tmall-like, 3,000 users": tmall_like(3000, 0),
    "tmall-like, 300 users": tmall_like(300, 1),
    "binary, 400 rows in 60 groups": mixed(400, 60, [0.75, 0.25], 2),
    "4 classes, 600 rows in 120 groups": mixed(600, 120, [0.4, 0.3, 0.2, 0.1], 3),
    "14 classes, 20,000 rows in 3,000 groups": mixed(20_000, 3000, [1 / 14] * 14, 4),
}


@pytest.mark.parametrize("name", DATA)
def test_groups_stay_whole_and_folds_are_balanced(name):
    y, groups = DATA[name]
    fold = stratified_group_folds(y, groups, n_splits=5, seed=0)
    assert fold.shape == y.shape and set(fold) == set(range(5))
    assert_groups_whole(fold, groups)
    sizes = np.bincount(fold)
    one_row = 1 / sizes.min()  # the finest step a fold's share can take
    assert sizes.max() / sizes.min() < 1.1
    assert class_deviation(fold, y) <= max(0.02, 2 * one_row)
    # no worse than sklearn's StratifiedGroupKFold on the same data, within one row's worth
    for seed in range(3):
        ours, theirs = stratified_group_folds(y, groups, 5, seed), sklearn_folds(y, groups, 5, seed)
        assert class_deviation(ours, y) <= 1.5 * class_deviation(theirs, y) + one_row
        assert np.ptp(np.bincount(ours)) <= 1.5 * np.ptp(np.bincount(theirs)) + np.unique(groups, return_counts=True)[1].max()


def test_many_small_groups_balance_almost_exactly():
    """Tmall's shape (here 50,000 users): whole rounds of alike users make the folds all but equal."""
    y, groups = tmall_like(50_000, 5)
    fold = stratified_group_folds(y, groups, 5, 42)
    assert_groups_whole(fold, groups)
    assert np.ptp(np.bincount(fold)) <= 20 and np.ptp(np.bincount(fold, weights=y)) <= 5
    assert class_deviation(fold, y) < 0.001


@pytest.mark.parametrize("name", ["tmall-like, 3,000 users", "binary, 400 rows in 60 groups"])
def test_seeded(name):
    y, groups = DATA[name]
    first = stratified_group_folds(y, groups, 5, seed=1)
    assert np.array_equal(first, stratified_group_folds(y, groups, 5, seed=1))
    other = stratified_group_folds(y, groups, 5, seed=2)
    assert_groups_whole(other, groups)
    # other folds, not the same ones renumbered: a renumbering would pair each fold with a single other fold
    pairs = len(set(zip(first, other)))
    assert pairs > 10, f"seed 2 made the folds of seed 1 again ({pairs} fold pairs)"


@given(st.integers(1, 4), st.integers(1, 300), st.integers(0, 2**32 - 1))
@settings(max_examples=50, deadline=None)
def test_unique_rows_is_numpys_unique_over_rows(n_classes, n_groups, seed):
    """The strata (class counts per group) come out as np.unique(axis=0) makes them: same rows, same order,
    same inverse, so a seed keeps making the same folds."""
    counts = np.random.default_rng(seed).geometric(0.6, (n_groups, n_classes)) - 1
    rows, inverse = _unique_rows(counts)
    expected, expected_inverse = np.unique(counts, axis=0, return_inverse=True)
    assert np.array_equal(rows, expected) and np.array_equal(inverse, expected_inverse.ravel())


def test_labels_of_any_kind_and_strings_as_groups():
    y = np.array(["cat", "dog", "eel"] * 40)
    groups = np.array([f"user{i // 3}" for i in range(120)])
    fold = make_folds(120, "stratified_group", 4, 0, y=y, groups=groups).assignment
    assert_groups_whole(fold, groups)
    assert set(fold) == {0, 1, 2, 3}
    assert np.array_equal(fold, stratified_group_folds(y, groups, 4, 0))


def test_bad_input_says_what_to_change():
    with pytest.raises(ConfigError, match="at least n_splits=5 groups; got 3"):
        stratified_group_folds(np.array([0, 1, 0, 1]), np.array([1, 1, 2, 3]), 5)
    with pytest.raises(ConfigError, match="class target .* continuous"):
        stratified_group_folds(np.linspace(0, 1, 50), np.arange(50), 5)
    with pytest.raises(ValueError, match="needs groups"):
        make_folds(10, "stratified_group", 2, y=np.zeros(10))


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 3)), min_size=1, max_size=300),
       n_splits=st.integers(2, 6), seed=st.integers(0, 2**32 - 1))
def test_folds_partition_the_rows_and_never_split_a_group(rows, n_splits, seed):
    groups, y = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    if len(np.unique(groups)) < n_splits:
        with pytest.raises(ConfigError):
            stratified_group_folds(y, groups, n_splits, seed)
        return
    folds = make_folds(len(rows), "stratified_group", n_splits, seed, y=y, groups=groups)
    assert folds.n_splits == n_splits and folds.validated.all()
    assert set(folds.assignment) == set(range(n_splits))  # every fold validates something
    valid = np.concatenate([v for _, v in folds.splits()])
    assert np.array_equal(np.sort(valid), np.arange(len(rows)))  # each row validated exactly once
    assert_groups_whole(folds.assignment, groups)


def test_saved_folds_load_back_and_an_edit_is_refused(tmp_path):
    y, groups = tmall_like(500, 7)
    folds = make_folds(len(y), "stratified_group", 5, 3, y=y, groups=groups, data_digest="abc")
    save_folds(folds, tmp_path)
    again = load_folds(tmp_path)
    assert again.hash == folds.hash and np.array_equal(again.assignment, folds.assignment)
    assert load_folds(tmp_path / "none") is None
    edited = folds.assignment.copy()
    edited[0] = (edited[0] + 1) % 5
    np.save(tmp_path / "folds.npy", edited)
    with pytest.raises(FoldMismatchError, match="does not match the hash"):
        load_folds(tmp_path)


@settings(max_examples=40, deadline=None)
@given(scheme=st.sampled_from(["kfold", "stratified", "group", "time"]), n_splits=st.integers(2, 5),
       seed=st.integers(0, 2**32 - 1), data=st.data())
def test_every_scheme_validates_each_row_at_most_once_and_group_folds_keep_groups_whole(scheme, n_splits, seed, data):
    n = data.draw(st.integers(4 * n_splits, 120))
    rng = np.random.default_rng(seed)
    y = np.resize(np.arange(2), n)[rng.permutation(n)]  # both classes, each at least n_splits times
    groups = rng.integers(0, n // 2, n)
    groups[:n_splits] = 10_000 + np.arange(n_splits)  # at least n_splits distinct groups
    folds = make_folds(n, scheme, n_splits, seed, y=y, groups=groups, order=rng.permutation(n), data_digest="d")
    assert folds.assignment.shape == (n,) and folds.n_splits == n_splits
    assert set(folds.assignment[folds.validated]) == set(range(n_splits))
    valid = np.concatenate([v for _, v in folds.splits()])
    assert np.array_equal(np.sort(valid), np.flatnonzero(folds.validated))  # validated once, the rest never
    for train, valid in folds.splits():
        assert not np.intersect1d(train, valid).size
        if scheme == "time":  # trained only on rows earlier in time than the fold it validates
            assert np.all(folds.assignment[train] < folds.assignment[valid[0]])
    if scheme == "time":
        assert (~folds.validated).any()  # the warm-up block is only ever trained on
    else:
        assert folds.validated.all()
    if scheme == "group":
        assert_groups_whole(folds.assignment, groups)


@settings(max_examples=20, deadline=None)
@given(assignment=st.lists(st.integers(-1, 4), min_size=2, max_size=60), digest=st.text(max_size=8),
       row=st.integers(0, 59))
def test_saved_folds_round_trip_and_any_one_change_changes_the_hash(tmp_path_factory, assignment, digest, row):
    from common.data.folds import Folds

    folds = Folds(np.array(assignment, dtype=np.int64), "kfold", digest)
    again = load_folds(save_folds(folds, tmp_path_factory.mktemp("folds")))
    assert again.hash == folds.hash and np.array_equal(again.assignment, folds.assignment)
    assert (again.scheme, again.data_digest) == (folds.scheme, folds.data_digest)
    row %= len(assignment)
    moved = folds.assignment.copy()
    moved[row] += 1
    assert len({folds.hash, Folds(moved, "kfold", digest).hash, Folds(folds.assignment, "group", digest).hash,
                Folds(folds.assignment, "kfold", digest + "x").hash}) == 4


def test_folds_saved_before_data_digests_load_with_an_empty_digest(tmp_path):
    import json

    folds = make_folds(30, "kfold", 3, seed=0)  # data_digest ""
    save_folds(folds, tmp_path)
    meta = json.loads((tmp_path / "folds.json").read_text())
    del meta["data_digest"]  # an older folds.json
    (tmp_path / "folds.json").write_text(json.dumps(meta))
    again = load_folds(tmp_path)
    assert again.data_digest == "" and again.hash == folds.hash


def test_an_edited_fold_file_is_refused_with_the_cure(tmp_path):
    folds = make_folds(30, "kfold", 3, seed=0)
    save_folds(folds, tmp_path)
    np.save(tmp_path / "folds.npy", folds.assignment[::-1].copy())
    with pytest.raises(FoldMismatchError) as err:
        load_folds(tmp_path)
    assert str(err.value) == (f"{tmp_path}/folds.npy does not match the hash in folds.json ({folds.hash}); the file "
                              "was edited or half-copied. Delete both files and rerun stage 03 to make folds again.")


@pytest.mark.parametrize("scheme", ["kfold", "stratified", "group", "stratified_group"])
def test_repeated_folds_are_re_splits_of_the_same_scheme_and_hashed(scheme, tmp_path):
    y, groups = tmall_like(300, 4)
    plain = make_folds(len(y), scheme, 4, 3, y=y, groups=groups, data_digest="d")
    once = make_folds(len(y), scheme, 4, 3, y=y, groups=groups, data_digest="d", n_repeats=1)
    thrice = make_folds(len(y), scheme, 4, 3, y=y, groups=groups, data_digest="d", n_repeats=3)
    assert once.hash == plain.hash and once.repeats == () and once.primary is once  # 1 repeat: today's folds
    assert np.array_equal(thrice.assignment, plain.assignment) and thrice.primary.hash == plain.hash
    assert thrice.n_repeats == 3 and thrice.n_fits == 12 and thrice.hash != plain.hash
    assert make_folds(len(y), scheme, 4, 3, y=y, groups=groups, data_digest="d", n_repeats=2).hash not in (
        plain.hash, thrice.hash)
    fits = list(thrice.repeated_splits())
    assert [(r, k) for r, k, _, _ in fits] == [(r, k) for r in range(3) for k in range(4)]
    for r, assignment in enumerate((thrice.assignment, *thrice.repeats)):
        valid = np.concatenate([va for rr, _, _, va in fits if rr == r])
        assert np.array_equal(np.sort(valid), np.arange(len(y)))  # each repeat validates every row once
        if r:
            assert not np.array_equal(assignment, thrice.assignment)  # another split, not the primary again
        if "group" in scheme:
            assert_groups_whole(assignment, groups)
        if "stratified" in scheme:  # every fold of a repeat near the overall positive rate
            assert class_deviation(assignment, y) < 0.05
    again = load_folds(save_folds(thrice, tmp_path))
    assert again.hash == thrice.hash and again.n_repeats == 3
    assert all(np.array_equal(a, b) for a, b in zip(again.repeats, thrice.repeats))
    edited = np.stack(thrice.repeats)
    edited[1, 0] = (edited[1, 0] + 1) % 4
    np.save(tmp_path / "folds_repeats.npy", edited)
    with pytest.raises(FoldMismatchError, match="folds_repeats.npy does not match"):
        load_folds(tmp_path)


def test_repeats_are_refused_for_the_schemes_with_one_split():
    mask = np.arange(40) < 10
    with pytest.raises(ConfigError, match="n_repeats must be 1 for the 'holdout' scheme"):
        make_folds(40, "holdout", holdout=mask, n_repeats=2)
    with pytest.raises(ConfigError, match="n_repeats must be 1 for the 'time' scheme"):
        make_folds(40, "time", 3, order=np.arange(40), n_repeats=2)
    assert make_folds(40, "holdout", holdout=mask, n_repeats=1).n_fits == 1  # the holdout itself still works
    from common.config import parse_config

    raw = {"competition": {"name": "c", "task": "binary", "metric": "auc"}, "models": [{"name": "logistic"}],
           "data": {"train": "t.csv", "test": "s.csv", "target": "y", "valid": "v.csv"},
           "folds": {"scheme": "holdout", "n_repeats": 3}}
    with pytest.raises(ConfigError, match="folds.n_repeats needs a shuffled scheme: 'holdout' has one fixed split"):
        parse_config(raw)
    assert parse_config({**raw, "folds": {"scheme": "holdout"}}).folds.n_repeats == 1
