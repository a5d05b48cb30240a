"""The neural text models: vocabulary and length from the training fold, head+tail truncation, dynamic
padding, output shapes, and learning the generated news classes. (test_models.py runs them on every task.)"""
import numpy as np
import pandas as pd
import pytest

from common.config import Component
from common.models import create_model

TEXT_MODELS = ["fasttext", "textcnn"]


def _model(name, task="multiclass", n_classes=3, **params):
    return create_model(Component(name=name, params=params), task, seed=0, n_classes=n_classes)


def test_vocabulary_and_length_come_from_the_training_fold():
    docs = pd.DataFrame({"text": ["a b c", "a b", "a d e f g h i j", "a b c d"] * 5})
    model = _model("fasttext", epochs=1, length_quantile=0.5, max_len=100)
    model.fit(docs, np.arange(20) % 3)
    assert set(model.vocab_) == set("abcdefghij") and model.vocab_["a"] == 2  # the commonest token first
    assert model.length_ == 4  # the median of the lengths 3, 2, 8, 4 (3.5), rounded up


def test_long_documents_keep_head_and_tail():
    model = _model("textcnn", epochs=1, max_len=4, length_quantile=1.0, head_share=0.5)
    model.fit(pd.DataFrame({"text": ["t0 t1 t2 t3 t4 t5 t6 t7 t8 t9"] * 4}), np.array([0, 1, 2, 0]))
    ids = model._encode([f"t{i}" for i in range(10)])
    assert [model.vocab_.get(f"t{i}") for i in (0, 1, 8, 9)] == ids.tolist()
    assert model._encode(["t0", "unseen"]).tolist() == [model.vocab_["t0"], 1]  # 1: out of vocabulary


@pytest.mark.parametrize("name", TEXT_MODELS)
def test_batches_are_padded_to_their_longest_document(name):
    model = _model(name)
    batch = [(np.array([5, 6, 7]), 1), (np.array([8]), 0)]
    ids, target = model.collate(batch)
    width = max(3, model.min_length)  # the longest document, or a convolution's widest kernel
    assert ids.tolist() == [[5, 6, 7] + [0] * (width - 3), [8] + [0] * (width - 1)] and target.tolist() == [1, 0]


@pytest.mark.parametrize("name", TEXT_MODELS)
def test_learns_generated_news_and_predicts_class_probabilities(name, tmp_path):
    from sklearn.metrics import f1_score

    from common.data.datasets.news import make_news

    train, test = make_news(n_train=500, n_test=150, seed=2)
    X, y = train[["text"]].iloc[:400], train["label"].to_numpy()[:400]
    Xv, yv = train[["text"]].iloc[400:], train["label"].to_numpy()[400:]
    model = _model(name, n_classes=14, max_len=256).fit(X, y, Xv, yv, workdir=tmp_path)
    pred = model.predict(Xv)
    assert pred.shape == (100, 14)
    np.testing.assert_allclose(pred.sum(axis=1), 1, atol=1e-5)
    assert f1_score(yv, pred.argmax(1), average="macro") > 0.3  # 14 classes: chance is ~0.07
    assert model.predict(test[["text"]]).shape == (150, 14)
