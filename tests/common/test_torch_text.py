"""The neural text models: vocabulary and length from the training fold, head+tail truncation, dynamic
padding, output shapes, and learning the generated news classes; the BiGRU's padding never reaching a
document's prediction. (test_models.py runs them on every task.)"""
import numpy as np
import pandas as pd
import pytest

from common.config import Component
from common.models import create_model

TEXT_MODELS = ["fasttext", "textcnn", "bigru"]


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


@pytest.mark.parametrize("name", ["fasttext", "textcnn"])  # bigru: a smaller corpus below (a GRU steps token by token)
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


def _planted(n, seed, length=24):
    """Documents of filler tokens with one of 4 class tokens at a random place: the class is that token."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    docs = []
    for label in labels:
        words = [f"w{i}" for i in rng.integers(0, 30, rng.integers(length // 2, length))]
        words.insert(int(rng.integers(0, len(words) + 1)), f"class{label}")
        docs.append(" ".join(words))
    return pd.DataFrame({"text": docs}), labels


def test_bigru_learns_a_planted_token_wherever_it_stands(tmp_path):
    from sklearn.metrics import f1_score

    X, y = _planted(320, seed=0)
    Xv, yv = _planted(80, seed=1)
    model = _model("bigru", n_classes=4, epochs=6, patience=6).fit(X, y, Xv, yv, workdir=tmp_path)
    pred = model.predict(Xv)
    assert pred.shape == (80, 4)
    np.testing.assert_allclose(pred.sum(axis=1), 1, atol=1e-5)
    assert f1_score(yv, pred.argmax(1), average="macro") > 0.6  # 4 balanced classes: chance is ~0.25


def test_reverse_within_reverses_each_document_and_leaves_its_padding():
    import torch

    from common.models.torch.text import reverse_within

    x, lengths = torch.arange(10).view(2, 5), torch.tensor([3, 5])
    assert reverse_within(x, lengths).tolist() == [[2, 1, 0, 3, 4], [9, 8, 7, 6, 5]]
    feature = torch.arange(20.0).view(2, 5, 2)  # (batch, tokens, features): whole vectors move
    assert reverse_within(feature, lengths)[0, 0].tolist() == [4.0, 5.0]
    assert torch.equal(reverse_within(reverse_within(feature, lengths), lengths), feature)


def test_bigru_prediction_does_not_depend_on_the_padding_of_its_batch():
    """A document alone, and in a batch beside a longer one (so padded): the same probabilities. The control:
    the same positions holding a token instead of padding do change them, so the padding was there to leak."""
    import torch

    X, y = _planted(64, seed=0)
    model = _model("bigru", n_classes=4, epochs=2, dropout=0.0).fit(X, y)
    short, long = "w1 class2 w3", "w4 w5 class0 w6 w7 w8 w9 w10 w11 w12"
    alone = model.predict(pd.DataFrame({"text": [short]}))
    beside = model.predict(pd.DataFrame({"text": [short, long]}))
    np.testing.assert_allclose(beside[0], alone[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(beside[0], beside[1], atol=1e-3)  # the two documents do get different outputs

    ids, _ = model.collate([(model._encode(d.split()), 0) for d in (short, long)])
    assert (ids[0] == 0).sum() == 7  # the short document was padded to the long one's 10 tokens
    net = model.net_.eval()
    with torch.no_grad():
        padded = torch.softmax(net(ids), -1)[0]
        filled = torch.softmax(net(ids.masked_fill(ids == 0, 1)), -1)[0]  # pads turned into unknown tokens
    np.testing.assert_allclose(padded.numpy(), alone[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(filled.numpy(), alone[0], atol=1e-4)


def test_word_order_needs_a_model_of_trigrams(tmp_path):
    """News whose only class signal is in word order (the generator's phrases: every class has the same
    unigrams and bigrams, only the trigram says the class): TF-IDF over (1, 2)-grams stays near chance, a
    TextCNN (kernels up to 4 tokens) learns it, as the comparison table should rank them on such a corpus."""
    from sklearn.metrics import f1_score

    from common.data.datasets.news import make_news

    train, _ = make_news(n_train=700, n_test=1, seed=5, topic_share=0.0, class_lean=0.0, phrase_share=0.3)
    X, y = train[["text"]].iloc[:560], train["label"].to_numpy()[:560]
    Xv, yv = train[["text"]].iloc[560:], train["label"].to_numpy()[560:]
    tfidf = create_model(Component(name="tfidf_linear", params={"ngram_range": [1, 2]}), "multiclass", seed=0,
                         n_classes=14).fit(X, y)
    cnn = _model("textcnn", n_classes=14, max_len=256).fit(X, y, Xv, yv, workdir=tmp_path)
    f1_tfidf = f1_score(yv, tfidf.predict(Xv).argmax(1), average="macro")
    f1_cnn = f1_score(yv, cnn.predict(Xv).argmax(1), average="macro")
    assert f1_cnn > 0.5 and f1_cnn > f1_tfidf + 0.3, (f1_cnn, f1_tfidf)
    trigrams = create_model(Component(name="tfidf_linear", params={"ngram_range": [1, 3]}), "multiclass", seed=0,
                            n_classes=14).fit(X, y)
    assert f1_score(yv, trigrams.predict(Xv).argmax(1), average="macro") > f1_tfidf + 0.3  # the signal: trigrams
