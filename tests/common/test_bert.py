"""bert: the corpus's own tokenizer, masked-LM pre-training done once per corpus (cached across folds and reruns,
resumed after a kill), fine-tuning that learns the generated news classes. (test_models.py runs it on every task.)"""
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("transformers")

from common.config import Component
from common.models import create_model
from common.models.torch import trainer as torch_trainer
from common.models.torch.bert import CLS, MASK, PAD, SEP, UNK, build_tokenizer, encode

TINY = {"hidden": 32, "layers": 1, "heads": 2, "max_len": 32, "batch_size": 16, "epochs": 2, "pretrain_epochs": 2}


def _bert(task="multiclass", n_classes=3, **params):
    return create_model(Component(name="bert", params={**TINY, **params}), task, seed=0, n_classes=n_classes)


def _corpus(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    docs = [" ".join([f"c{label}", *map(str, rng.integers(0, 30, 12))]) for label in y]
    return pd.DataFrame({"text": docs}), y


def test_tokenizer_round_trip_with_specials_first_and_unknown_tokens():
    texts = ["a b c a", "a b", "b d e"]
    tokenizer = build_tokenizer(texts, max_vocab=100, min_count=1)
    vocab = tokenizer.get_vocab()
    assert [vocab[s] for s in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [PAD, UNK, CLS, SEP, MASK]
    assert vocab["a"] < vocab["c"] and vocab["b"] < vocab["c"]  # the most frequent tokens first
    ids = tokenizer.encode("a b c d e", add_special_tokens=False).ids
    tokens = [tokenizer.id_to_token(i) for i in ids]
    assert tokens == ["a", "b", "c", "d", "e"] and [tokenizer.token_to_id(t) for t in tokens] == ids
    assert tokenizer.encode("a zzz", add_special_tokens=False).ids == [vocab["a"], UNK]  # unseen: [UNK]
    assert build_tokenizer(texts, max_vocab=2, min_count=1).get_vocab_size() == 5 + 2  # capped by max_vocab
    assert "e" not in build_tokenizer(texts, max_vocab=100, min_count=2).get_vocab()  # seen once: left out


def test_documents_are_framed_and_keep_head_and_tail():
    tokenizer = build_tokenizer([" ".join(f"t{i}" for i in range(10))], max_vocab=100, min_count=1)
    [ids] = encode(tokenizer, [" ".join(f"t{i}" for i in range(10))], length=6, head_share=0.5)
    assert [tokenizer.id_to_token(int(i)) for i in ids] == ["[CLS]", "t0", "t1", "t8", "t9", "[SEP]"]


def test_pretraining_runs_once_per_corpus_whatever_the_fold(tmp_path):
    """Two folds of one corpus (training + validation + unlabelled rows are the same documents) share one
    pre-training: the second fit reads the cached encoder, whose file is not written again."""
    X, y = _corpus()
    test = _corpus(20, seed=1)[0]
    first = _bert()
    first.cache_dir, first.unlabelled = tmp_path, test
    first.fit(X.iloc[:45], y[:45], X.iloc[45:], y[45:])
    [folder] = list(tmp_path.glob("bert-*"))
    weights = folder / "encoder.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert first.info["pretrained"] == "trained" and first.info["documents"] == 80
    assert (folder / "tokenizer.json").is_file() and (folder / "mlm" / "checkpoint.json").is_file()
    second = _bert()
    second.cache_dir, second.unlabelled = tmp_path, test
    second.fit(X.iloc[15:], y[15:], X.iloc[:15], y[:15])  # another fold of the same documents
    assert second.info["pretrained"] == "cached" and weights.stat().st_mtime_ns == stamp
    assert list(tmp_path.glob("bert-*")) == [folder]
    other = _bert(hidden=16)  # other pre-training params: another encoder
    other.cache_dir, other.unlabelled = tmp_path, test
    assert other.fit(X, y).info["pretrained"] == "trained" and len(list(tmp_path.glob("bert-*"))) == 2
    assert _bert(pretrain_epochs=0, epochs=1).fit(X, y).info["pretrained"] == "none"  # a random encoder


def test_a_killed_pretraining_resumes_where_it_stopped(tmp_path, monkeypatch):
    """Killed after masked-LM epoch 1 of 3, the rerun trains epoch 2 only and ends with the very encoder an
    uninterrupted pre-training makes."""
    from safetensors.torch import load_file

    X, y = _corpus()
    points = []
    monkeypatch.setattr(torch_trainer, "checkpoint", points.append)
    _bert(pretrain_epochs=3, epochs=1).fit(X, y, workdir=tmp_path / "whole")
    assert points[:3] == ["epoch:0", "epoch:1", "epoch:2"]

    def kill(point):
        if point == "epoch:1":
            raise KeyboardInterrupt

    monkeypatch.setattr(torch_trainer, "checkpoint", kill)
    with pytest.raises(KeyboardInterrupt):
        _bert(pretrain_epochs=3, epochs=1).fit(X, y, workdir=tmp_path / "stopped")
    assert not list((tmp_path / "stopped").glob("pretrained/bert-*/encoder.safetensors"))
    points.clear()
    monkeypatch.setattr(torch_trainer, "checkpoint", points.append)
    resumed = _bert(pretrain_epochs=3, epochs=1).fit(X, y, workdir=tmp_path / "stopped")
    assert points[0] == "epoch:2" and resumed.info["mlm_best_epoch"] is not None  # masked-LM: the missing epoch
    [whole] = (tmp_path / "whole").glob("pretrained/bert-*/encoder.safetensors")
    [again] = (tmp_path / "stopped").glob("pretrained/bert-*/encoder.safetensors")
    a, b = load_file(str(whole)), load_file(str(again))
    assert a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_learns_generated_news_and_predicts_class_probabilities():
    from sklearn.metrics import f1_score

    from common.data.datasets.news import make_news

    train, test = make_news(n_train=360, n_test=60, seed=2)
    X, y = train[["text"]].iloc[:300], train["label"].to_numpy()[:300]
    Xv, yv = train[["text"]].iloc[300:], train["label"].to_numpy()[300:]
    model = _bert(n_classes=14, hidden=64, max_len=64, epochs=12, pretrain_epochs=1, lr=3e-3)
    model.unlabelled = test[["text"]]
    model.fit(X, y, Xv, yv)
    pred = model.predict(Xv)
    assert pred.shape == (60, 14) and np.allclose(pred.sum(1), 1, atol=1e-5)
    assert model.predict(test[["text"]]).shape == (60, 14)
    assert f1_score(yv, pred.argmax(1), average="macro") > 0.3  # 14 classes: chance is about 0.07


def test_the_fold_loop_hands_over_the_test_texts_and_the_cache_folder(tmp_path):
    from common.data.folds import make_folds
    from common.metrics import get_metric
    from common.runs.train import CVContext, fit_oof

    X, y = _corpus()
    test = _corpus(20, seed=1)[0]
    folds = make_folds(len(y), scheme="stratified", n_splits=2, seed=0, y=y)
    cv = CVContext(folds, get_metric("accuracy"), "multiclass", n_classes=3, cache_dir=tmp_path / "pretrained")
    result = fit_oof(Component(name="bert", params=TINY), X, y, test, cv, progress=False)
    assert [info["pretrained"] for info in result.fold_info] == ["trained", "cached"]
    assert result.fold_info[0]["documents"] == 80 and result.test.shape == (20, 3)


def test_unknown_param_is_refused_with_a_suggestion():
    from common.errors import ConfigError

    with pytest.raises(ConfigError, match=r"no param\(s\) \['hiden'\].*Did you mean 'hidden'"):
        create_model(Component(name="bert", params={"hiden": 64}), "multiclass")
    with pytest.raises(ValueError, match="multiple of heads"):
        _bert(hidden=30, heads=4)


def test_a_transformed_target_passes_the_unlabelled_rows_on(tmp_path):
    from common.models.base import create_model as make

    X, _ = _corpus()
    y = np.arange(60, dtype=float) % 3 + 1
    model = make(Component(name="bert", params={**TINY, "pretrain_epochs": 1, "epochs": 1}), "regression",
                 target_transform="log1p")
    model.unlabelled, model.cache_dir = _corpus(20, seed=1)[0], tmp_path
    model.fit(X, y)
    assert model.info["documents"] == 80 and list(tmp_path.glob("bert-*/encoder.safetensors"))
