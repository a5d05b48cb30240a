"""Submission files round-trip: build_submission -> write_submission -> check_submission gives back the
same ids and values (within the spec's float_format), for csv and lines files, numbers, integer labels and
string labels. Property-based (hypothesis); each property runs in well under a second."""
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import SubmissionError
from common.submissions.files import SubmissionSpec, build_submission, check_submission, read_submission, write_submission

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FLOAT_FORMATS = st.sampled_from([None, "%.6f", "%.4f", "%.10g", "%.3e"])
FINITE = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False)
# labels as a user's train file holds them: words, codes with leading zeros, words pandas reads as missing
WORDS = st.text(alphabet="abcXYZ019_-", min_size=1, max_size=6) | st.sampled_from(["NA", "None", "null", "nan", "007"])


def _written(frame: pd.DataFrame, spec: SubmissionSpec, tmp_path, name: str) -> pd.DataFrame:
    path = write_submission(frame, spec, tmp_path / name)
    assert not list(tmp_path.glob(f".{name}.*"))  # the temporary file is gone
    return check_submission(path, spec)


def _as_written(values: np.ndarray, float_format: str | None) -> np.ndarray:
    """What a file with this float_format holds for each value (None: the shortest repr, exact)."""
    return values if float_format is None else np.array([float(float_format % v) for v in values])


@SETTINGS
@given(values=st.lists(FINITE, min_size=1, max_size=40), float_format=FLOAT_FORMATS, string_ids=st.booleans())
def test_a_csv_of_values_reads_back_with_the_same_ids_and_values(tmp_path, values, float_format, string_ids):
    values = np.array(values)
    ids = [f"id_{i}" for i in range(len(values))] if string_ids else list(range(1000, 1000 + len(values)))
    spec = SubmissionSpec("csv", len(values), ("id", "y"), tuple(ids), float_format=float_format)
    back = _written(build_submission(values, spec, pd.DataFrame({"id": ids})), spec, tmp_path, "sub.csv")
    assert list(back.columns) == ["id", "y"] and back["id"].tolist() == ids
    np.testing.assert_allclose(back["y"].to_numpy(), _as_written(values, float_format), rtol=1e-15, atol=0)


@SETTINGS
@given(values=st.lists(FINITE, min_size=1, max_size=40), float_format=FLOAT_FORMATS)
def test_a_lines_file_of_values_reads_back_in_order(tmp_path, values, float_format):
    values = np.array(values)
    spec = SubmissionSpec("lines", len(values), float_format=float_format)
    back = _written(build_submission(values, spec), spec, tmp_path, "sub.txt")
    assert (tmp_path / "sub.txt").read_text().count("\n") == len(values)  # no header line
    np.testing.assert_allclose(back["prediction"].to_numpy(), _as_written(values, float_format), rtol=1e-15, atol=0)


@SETTINGS
@given(probabilities=st.lists(st.floats(0, 1), min_size=2, max_size=30), k=st.integers(2, 4))
def test_per_class_probability_columns_read_back(tmp_path, probabilities, k):
    P = np.resize(np.array(probabilities), (len(probabilities), k))
    spec = SubmissionSpec("csv", len(P), ("id", *[f"c{j}" for j in range(k)]), tuple(range(len(P))),
                          value_range=(0.0, 1.0), float_format="%.8f", kind="probability", n_values=k)
    back = _written(build_submission(P, spec, pd.DataFrame({"id": range(len(P))})), spec, tmp_path, "p.csv")
    np.testing.assert_allclose(back.iloc[:, 1:].to_numpy(), np.round(P, 8), atol=1e-12)


@SETTINGS
@given(labels=st.lists(st.integers(-5, 5), min_size=1, max_size=40), fmt=st.sampled_from(["csv", "lines"]))
def test_integer_labels_read_back_as_the_same_integers(tmp_path, labels, fmt):
    classes = tuple(sorted(set(labels)))
    spec = SubmissionSpec(fmt, len(labels), ("id", "y") if fmt == "csv" else (),
                          tuple(range(len(labels))) if fmt == "csv" else None, integer=True, kind="label",
                          labels=classes)
    frame = build_submission(np.array(labels), spec, pd.DataFrame({"id": range(len(labels))}))
    back = _written(frame, spec, tmp_path, f"sub.{fmt}")
    assert back.iloc[:, -1].tolist() == labels


@SETTINGS
@given(data=st.data(), fmt=st.sampled_from(["csv", "lines"]))
def test_string_labels_read_back_as_written(tmp_path, data, fmt):
    """Including labels pandas would read as missing ('NA', 'None') or as numbers ('007')."""
    classes = tuple(sorted(data.draw(st.sets(WORDS, min_size=1, max_size=5))))
    labels = data.draw(st.lists(st.sampled_from(classes), min_size=1, max_size=30))
    spec = SubmissionSpec(fmt, len(labels), ("id", "label") if fmt == "csv" else (),
                          tuple(range(len(labels))) if fmt == "csv" else None, kind="label", labels=classes)
    frame = build_submission(np.array(labels, dtype=object), spec, pd.DataFrame({"id": range(len(labels))}))
    back = _written(frame, spec, tmp_path, f"sub.{fmt}")
    assert back.iloc[:, -1].tolist() == labels


@SETTINGS
@given(data=st.data())
def test_strings_of_known_characters_read_back_as_written(tmp_path, data):
    """A sequence contest's decoded strings ('05' stays '05')."""
    strings = data.draw(st.lists(st.text(alphabet="0123456789", min_size=1, max_size=5), min_size=1, max_size=30))
    spec = SubmissionSpec("csv", len(strings), ("file", "code"), tuple(f"{i}.png" for i in range(len(strings))),
                          kind="string", labels=tuple("0123456789"))
    frame = build_submission(np.array(strings, dtype=object), spec, pd.DataFrame({"file": list(spec.ids)}))
    assert _written(frame, spec, tmp_path, "sub.csv")["code"].tolist() == strings


@SETTINGS
@given(values=st.lists(FINITE, min_size=2, max_size=20), data=st.data())
def test_a_file_with_one_value_changed_to_nan_is_refused_and_the_old_file_kept(tmp_path, values, data):
    spec = SubmissionSpec("csv", len(values), ("id", "y"), tuple(range(len(values))))
    frame = build_submission(np.array(values), spec, pd.DataFrame({"id": range(len(values))}))
    path = write_submission(frame, spec, tmp_path / "sub.csv")
    before = path.read_bytes()
    row = data.draw(st.integers(0, len(values) - 1))
    broken = frame.copy()
    broken.loc[row, "y"] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    with pytest.raises(SubmissionError, match=rf"row {row} holds .*not a finite number"):
        write_submission(broken, spec, path)
    assert path.read_bytes() == before and read_submission(path, spec)["y"].notna().all()


@SETTINGS
@given(n=st.integers(2, 30), data=st.data())
def test_ids_out_of_order_or_replaced_are_refused(tmp_path, n, data):
    ids = list(range(100, 100 + n))
    spec = SubmissionSpec("csv", n, ("id", "y"), tuple(ids))
    perm = data.draw(st.permutations(ids).filter(lambda p: list(p) != ids))
    frame = pd.DataFrame({"id": perm, "y": np.zeros(n)})
    with pytest.raises(SubmissionError, match="in another order"):
        write_submission(frame, spec, tmp_path / "a.csv")
    row = data.draw(st.integers(0, n - 1))
    wrong = ids.copy()
    wrong[row] = -1
    with pytest.raises(SubmissionError, match=re.escape(f"row {row} has id -1, expected {ids[row]}")):
        write_submission(pd.DataFrame({"id": wrong, "y": np.zeros(n)}), spec, tmp_path / "b.csv")
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "b.csv").exists()


# ---- exact checks the mutation checks (make mutate) found untested


def _scale(values, lo, hi):
    """check_frame of a lines file of `values` against a training target ranging over [lo, hi]."""
    values = np.asarray(values, dtype=float)
    from common.submissions.files import check_frame

    check_frame(pd.DataFrame({"prediction": values}), SubmissionSpec("lines", len(values), target_range=(lo, hi)))


ANOTHER = "the values look like another scale of the target"
LOG1P = "the values look like log1p of the target: a target transform was not inverted"
NOWHERE = "no value lies in the target's range: a wrong column, units or transform"


def _mostly(value, n=98, **others):
    """n copies of `value`, then two of each other value (2 % of a hundred rows)."""
    return [value] * n + [v for v in others.values() for _ in range(2)]


@pytest.mark.parametrize("values,lo,hi,cause", [
    # [lo - span, hi + span] is the plausible band (span = hi - lo); its ends are inside
    ([-3.0] * 10, -1, 1, None), ([3.0] * 10, -1, 1, None), ([2.0] * 10, -1, 1, None),
    ([3.5] * 10, -1, 1, NOWHERE), ([-3.5] * 10, -1, 1, NOWHERE),
    ([0.5] * 10, 0, 0, NOWHERE),  # a constant target: the band is that value
    # a positive target: a tenth of its minimum is another scale as well, exactly lo / 10 is not
    ([-5.0] * 10, 0, 10, None), ([0.04] * 10, 0.5, 1, NOWHERE), ([10.0] * 10, 100, 200, None),
    ([9.5] * 10, 100, 200, NOWHERE), ([500.0] * 10, 100, 200, NOWHERE),
    # up to 1 % of the rows may lie outside
    (_mostly(0.0, 99, far=50.0)[:100], -1, 1, None), (_mostly(0.0, far=50.0), -1, 1, ANOTHER),
    # which cause: log1p of a positive target, no value in range, or another scale
    (_mostly(np.log1p(1.0), far=100.0), 0.5, 1.5, LOG1P),
    (_mostly(np.log1p(3.5), far=50.0), 1, 3, LOG1P),
    (_mostly(np.log1p(2.0), far=100.0), 0, 4, ANOTHER),  # lo = 0: not positive, no log1p diagnosis
    (_mostly(np.log1p(1.0), far=100.0), -1, 3, ANOTHER),
    (_mostly(np.log1p(2.0), n=90, low=-1.0, low2=-1.0, low3=-1.0, low4=-1.0, low5=-1.0), 1, 3, ANOTHER),
    (_mostly(np.log1p(2.0), n=90, low=-1.5, low2=-1.5, low3=-1.5, low4=-1.5, low5=-1.5), 1, 3, ANOTHER),
    ([0.0] * 10, 1, 3, NOWHERE),  # log1p's median exactly `span` away from the middle: not log1p
    (_mostly(-1.0, far=-100.0), -1, 1, ANOTHER), (_mostly(1.0, far=100.0), -1, 1, ANOTHER),
])
def test_the_scale_check_draws_its_lines_exactly_there(values, lo, hi, cause):
    if cause is None:
        _scale(values, lo, hi)
    else:
        with pytest.raises(SubmissionError) as err:
            _scale(values, lo, hi)
        assert str(err.value).endswith(f"); {cause}. Write the predictions on the contest's own scale.")


def test_the_scale_message_says_how_much_lies_where_and_the_cure():
    with pytest.raises(SubmissionError) as err:
        _scale(_mostly(0.0, n=50, far=50.0, farther=60.0), -1, 1)
    assert str(err.value) == (
        "submission: 7% of the values lie far outside the training target's range [-1, 1] (1%-99% of the file: "
        f"0 to 60); {ANOTHER}. Write the predictions on the contest's own scale.")


def test_values_too_large_for_expm1_are_refused_without_a_numpy_overflow():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SubmissionError, match=re.escape(NOWHERE)):
            _scale([800.0] * 10, 1, 3)


def _strings(values, labels=tuple("0123456789")):
    from common.submissions.files import check_frame

    spec = SubmissionSpec("csv", len(values), ("file", "code"), tuple(range(len(values))), kind="string", labels=labels)
    check_frame(pd.DataFrame({"file": range(len(values)), "code": values}), spec)


def test_strings_may_use_every_known_character_and_no_other():
    _strings(["0123456789", "7", "98"])
    with pytest.raises(SubmissionError, match=re.escape("submission: row 1 holds '7a'; a string prediction is made "
                                                        "of the train target's characters '0123456789'.")):
        _strings(["1", "7a", "98"])


@pytest.mark.parametrize("missing", [None, np.nan])
def test_a_missing_string_is_refused_with_or_without_known_characters(missing):
    for labels in (tuple("01"), None):
        with pytest.raises(SubmissionError, match=r"^submission: row 2 holds None; a string prediction"):
            _strings(["0", "1", missing], labels)
    _strings(["anything", "goes"], None)  # without known characters any string is taken


def test_a_label_outside_the_known_ones_is_named_as_written_with_at_most_15_labels():
    from common.submissions.files import check_frame

    labels = tuple(range(20))
    spec = SubmissionSpec("csv", 3, ("id", "y"), (0, 1, 2), integer=True, kind="label", labels=labels)
    with pytest.raises(SubmissionError) as err:
        check_frame(pd.DataFrame({"id": [0, 1, 2], "y": [3, 5, 77]}), spec)
    shown = sorted(str(v) for v in labels)[:15]
    assert str(err.value) == (f"submission: row 2 holds 77, not one of the train file's labels {shown}. A label "
                              "submission holds the contest's own class values.")


def test_each_check_names_the_file_it_checked():
    from common.submissions.files import check_frame

    cases = [  # (spec, a bad value column)
        (SubmissionSpec("lines", 2, kind="string", labels=("1",)), ["1", "2"]),
        (SubmissionSpec("lines", 2, kind="label", labels=("a", "b")), ["a", "c"]),
        (SubmissionSpec("lines", 2, target_range=(100.0, 200.0)), [5000.0, 6000.0]),
        (SubmissionSpec("lines", 2), [1.0, np.nan]),
    ]
    for spec, values in cases:
        with pytest.raises(SubmissionError, match=r"^subs/my\.csv: row|^subs/my\.csv: 100%"):
            check_frame(pd.DataFrame({"prediction": values}), spec, "subs/my.csv")


def test_a_value_that_is_no_finite_number_is_named_with_the_cure():
    from common.submissions.files import check_frame

    with pytest.raises(SubmissionError) as err:
        check_frame(pd.DataFrame({"prediction": [0.5, np.inf, 0.2]}), SubmissionSpec("lines", 3))
    assert str(err.value) == ("submission: row 1 holds inf, not a finite number. Fix the model's NaN/inf predictions "
                              "before submitting.")


@pytest.mark.parametrize("values", [[1, 2, 3], [1, None, 3]])
def test_nullable_integer_predictions_are_checked_like_any_number(values):
    from common.submissions.files import check_frame

    frame = pd.DataFrame({"prediction": pd.array(values, dtype="Int64")})
    if None in values:
        with pytest.raises(SubmissionError, match="row 1 holds .*not a finite number"):
            check_frame(frame, SubmissionSpec("lines", 3))
    else:
        check_frame(frame, SubmissionSpec("lines", 3, integer=True))


def test_a_lines_frame_has_one_prediction_column_and_ids_come_only_from_the_id_frame():
    assert list(build_submission(np.arange(3.0), SubmissionSpec("lines", 3)).columns) == ["prediction"]
    spec = SubmissionSpec("csv", 3, ("id", "y"), (1, 2, 3))
    assert list(build_submission(np.arange(3.0), spec).columns) == ["y"]  # no id frame: no ids to take
    assert build_submission(np.arange(3.0), spec, pd.DataFrame({"id": [1, 2, 3]}))["id"].tolist() == [1, 2, 3]


def test_a_composite_key_is_checked_as_tuples_in_order():
    from common.submissions.files import check_frame

    ids = (("a", 1), ("a", 2), ("b", 1))
    spec = SubmissionSpec("csv", 3, ("user", "item", "p"), ids)
    frame = pd.DataFrame({"user": ["a", "a", "b"], "item": [1, 2, 1], "p": [0.1, 0.2, 0.3]})
    check_frame(frame, spec)
    with pytest.raises(SubmissionError) as err:
        check_frame(frame.assign(item=[1, 3, 1]), spec)
    assert str(err.value) == ("submission: row 1 has id ('a', 3), expected ('a', 2); ids must be the test ids in "
                              "test order.")


def test_check_submission_names_the_file_in_every_message(tmp_path):
    path = tmp_path / "sub.csv"
    path.write_text("id,y\n0,1.0\n1,nan\n")
    with pytest.raises(SubmissionError, match=rf"^{re.escape(str(path))}: row 1 holds nan"):
        check_submission(path, SubmissionSpec("csv", 2, ("id", "y"), (0, 1)))


def test_strings_read_back_as_written_even_without_known_characters(tmp_path):
    spec = SubmissionSpec("csv", 2, ("file", "code"), ("a.png", "b.png"), kind="string")
    path = tmp_path / "s.csv"
    path.write_text("file,code\na.png,05\nb.png,NA\n")
    assert check_submission(path, spec)["code"].tolist() == ["05", "NA"]


def test_a_lines_file_with_a_header_or_an_undecodable_first_line_is_refused_with_the_cure(tmp_path):
    spec = SubmissionSpec("lines", 2)
    path = tmp_path / "sub.txt"
    path.write_text("prediction_of_the_model_for_each_test_row_in_order\n1.5\n2.5\n")
    with pytest.raises(SubmissionError) as err:
        check_submission(path, spec)
    assert str(err.value) == (f"{path}: the first line is 'prediction_of_the_model_for_each_test_ro', not a number. "
                              "A 'lines' submission has one prediction per line and no header: remove that line.")
    path.write_bytes(b"\xff\xfe\x00h\n1.5\n")  # e.g. a UTF-16 file
    with pytest.raises(SubmissionError, match="the first line is .*not a number"):
        check_submission(path, spec)


def test_a_file_pandas_cannot_parse_is_named_as_such(tmp_path):
    path = tmp_path / "sub.csv"
    path.write_text('id,y\n0,1.0\n1,"2.0\n')  # a quote never closed
    with pytest.raises(SubmissionError, match=rf"^{re.escape(str(path))} is not a readable csv submission: "):
        check_submission(path, SubmissionSpec("csv", 2, ("id", "y"), (0, 1)))


def test_a_file_refused_after_writing_is_named_as_the_final_file(tmp_path):
    """The frame passes, the bytes written do not ('007' reads back as 7): the message names sub.csv, not the
    temporary file, and nothing is written."""
    spec = SubmissionSpec("csv", 1, ("id", "y"), ("007",))
    path = tmp_path / "sub.csv"
    with pytest.raises(SubmissionError) as err:
        write_submission(pd.DataFrame({"id": ["007"], "y": [0.5]}), spec, path)
    assert str(err.value).startswith(f"{path}: row 0 has id 7, expected '007'")
    assert list(tmp_path.iterdir()) == []
