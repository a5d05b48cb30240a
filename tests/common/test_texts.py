"""Bad input for a text contest (common.data.texts, and the class range and separator checks it relies on): each
is one DataError naming the file, the 1-based line (header counted) and the fix, raised at stage 01 before the
task card is rewritten; as a user meets it, exit code 2 and no traceback."""
import shutil

import pandas as pd
import pytest
import yaml

from common.contest import Contest
from common.data.datasets.news import write_news
from common.data.texts import check_text_files, data_lines, integer_share
from common.errors import DataError
from common.stages import understanding
from tests.conftest import REPO, copy_contest, run_script


@pytest.fixture(scope="module")
def baked(tmp_path_factory):
    """The news contest copied with a small generated corpus (60 train, 20 test documents) and its task card."""
    root = copy_contest(REPO / "competitions" / "news_text", tmp_path_factory.mktemp("news") / "news")
    write_news(root / "data" / "raw", seed=1, n_train=60, n_test=20)
    understanding.main(Contest.load(root), None)
    return root


@pytest.fixture
def news(baked, tmp_path):
    root = tmp_path / "news"
    shutil.copytree(baked, root)
    return root


def _edit_line(path, number, edit):
    """Replace line `number` (1-based, header = 1) of a file by edit(old line)."""
    lines = path.read_text().split("\n")
    lines[number - 1] = edit(lines[number - 1])
    path.write_text("\n".join(lines))


def _label(line):
    return line.split("\t")[0]


def _refused_at_stage_01(root, *fragments):
    card = (root / "reports" / "task_card.md").read_bytes()
    with pytest.raises(DataError) as refused:
        understanding.main(Contest.load(root), None)
    message = str(refused.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert (root / "reports" / "task_card.md").read_bytes() == card  # the earlier output is intact
    return message


TRAIN, TEST = "data/raw/train_set.csv", "data/raw/test_a.csv"
CASES = {
    "empty document": (TRAIN, 4, lambda s: _label(s) + "\t", ["line 4 (row 2)", "document in column 'text' is empty"]),
    "spaces only": (TRAIN, 9, lambda s: _label(s) + "\t   ", ["line 9 (row 7)", "is only spaces"]),
    "blank test line": (TEST, 5, lambda s: "", ["line 5 is blank", "shift every later prediction"]),
    "word in ids": (TRAIN, 6, lambda s: s + " abc", ["line 6 (row 4)", "token 'abc'", "not an integer id"]),
    "float in test ids": (TEST, 3, lambda s: "12.5 " + s, ["line 3 (row 1)", "token '12.5'"]),
    "label 14": (TRAIN, 7, lambda s: "14\t" + s.split("\t")[1], ["line 7 (row 5)", "holds 14, not a class in 0..13",
                                                                 "competition.n_classes"]),
    "label -1": (TRAIN, 2, lambda s: "-1\t" + s.split("\t")[1], ["line 2 (row 0)", "holds -1"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_line_is_named_with_its_file_and_line(news, case):
    name, number, edit, fragments = CASES[case]
    _edit_line(news / name, number, edit)
    message = _refused_at_stage_01(news, *fragments)
    assert message.startswith(f"{'train' if name == TRAIN else 'test'} file {news / name}")


def test_a_blank_line_in_train_is_skipped_and_counted_in_the_line_numbers(news):
    _edit_line(news / TRAIN, 3, lambda s: s + "\n")  # a blank line 4: pandas skips it, no document is lost
    _edit_line(news / TRAIN, 8, lambda s: s + " x")  # the 6th data row, on line 8 of the file
    _refused_at_stage_01(news, "line 8 (row 5)", "token 'x'")


def test_a_train_file_given_as_test_is_named(news):
    shutil.copy(news / TRAIN, news / TEST)
    _refused_at_stage_01(news, f"test file {news / TEST} has the target column 'label'", "train file given as test",
                         "data.test")


@pytest.mark.parametrize("written, configured, fix", [(",", "\t", "data.sep: ','"), ("\t", ",", 'data.sep: "\\t"')])
def test_a_wrong_separator_names_the_one_the_file_uses(news, written, configured, fix):
    """The fix is valid YAML: '\\t' in single quotes would be a backslash and a t."""
    pd.read_csv(news / TRAIN, sep="\t").to_csv(news / TRAIN, sep=written, index=False)
    config = yaml.safe_load((news / "config.yaml").read_text())
    config["data"]["sep"] = configured
    (news / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    separator = {",": "comma", "\t": "tab"}[written]
    _refused_at_stage_01(news, str(news / TRAIN), f"header (line 1) looks {separator}-separated", fix)
    assert yaml.safe_load(fix.replace("data.sep: ", "sep: "))["sep"] == written


def test_stage_01_refuses_as_a_user_meets_it(news):
    """One run of the stage script: exit code 2, one line on stderr, no traceback, the task card intact."""
    card = (news / "reports" / "task_card.md").read_bytes()
    _edit_line(news / TEST, 12, lambda s: s.replace(" ", " 3O4 ", 1))  # a letter O in an id
    result = run_script(news / "stages" / "01_understanding.py")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert f"test file {news / TEST}, line 12 (row 10): token '3O4'" in result.stderr, result.stderr
    assert (news / "reports" / "task_card.md").read_bytes() == card


# ---------------------------------------------------------------- the functions themselves
def _frames(train_docs, test_docs):
    return (pd.DataFrame({"label": range(len(train_docs)), "text": train_docs}),
            pd.DataFrame({"text": test_docs}))


def _write(tmp_path, train, test):
    paths = tmp_path / "train.tsv", tmp_path / "test.tsv"
    train.to_csv(paths[0], sep="\t", index=False)
    test.to_csv(paths[1], sep="\t", index=False)
    return paths


def test_a_word_corpus_is_not_refused_for_its_words(tmp_path):
    train, test = _frames(["the cat sat", "a dog ran 3 miles", "42 is the answer"], ["cats and dogs", "7 up"])
    check_text_files(train, test, column="text", target="label", train_path=_write(tmp_path, train, test)[0],
                     test_path=tmp_path / "test.tsv")
    assert integer_share(train["text"]) < 0.5


def test_a_damaged_token_among_the_first_documents_is_still_found(tmp_path):
    """One bad token in the sample does not turn an id corpus into a word corpus."""
    docs = [" ".join(str(i * 7 + j) for j in range(30)) for i in range(40)]
    docs[0] = docs[0].replace("3", "3a", 1)
    train, test = _frames(docs, docs[1:5])
    paths = _write(tmp_path, train, test)
    with pytest.raises(DataError, match=r"train\.tsv, line 2 \(row 0\): token '3a' in 'text' is not an integer id"):
        check_text_files(train, test, column="text", target="label", train_path=paths[0], test_path=paths[1])


def test_line_numbers_skip_blank_lines_the_way_pandas_does(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("text\n1 2\n\n   \n3 4\n5\n\n\n")
    frame = pd.read_csv(path, sep="\t")
    lines, blank = data_lines(path, len(frame))
    assert len(frame) == 3 and lines.tolist() == [2, 5, 6] and blank == [3, 4]  # trailing blank lines: no document
