"""The sequence prediction kind: a string target (a house number's digits) predicted position by position.

A sequence target is encoded as an (n, positions) integer matrix: the index of each character in the
contest's alphabet (the sorted characters seen in train), then a blank (index len(alphabet)) after
the string ends. Models predict (n, positions, len(alphabet) + 1) probabilities; the OOF and test
stores, the blends (per-position probabilities averaged or weighted), `string_accuracy` and the
submission writer (decoded strings) all take that shape.
"""
from __future__ import annotations

import numpy as np


def alphabet(strings) -> tuple[str, ...]:
    """The sorted characters of the training strings."""
    return tuple(sorted(set("".join(map(str, strings)))))


def encode_sequences(strings, chars: tuple[str, ...], positions: int | None = None) -> np.ndarray:
    """(n, positions) codes: characters as indexes into `chars`, blanks (len(chars)) after each string."""
    strings = [str(s) for s in strings]
    positions = positions or max(map(len, strings))
    index = {c: i for i, c in enumerate(chars)}
    codes = np.full((len(strings), positions), len(chars), dtype=np.int64)
    for row, text in enumerate(strings):
        codes[row, :len(text)] = [index[c] for c in text[:positions]]
    return codes


def decode_sequences(pred: np.ndarray, chars: tuple[str, ...]) -> np.ndarray:
    """Strings from (n, positions, classes) probabilities or (n, positions) codes: the characters before
    the first blank."""
    codes = pred.argmax(axis=-1) if pred.ndim == 3 else np.asarray(pred)
    out = []
    for row in codes:
        text = []
        for code in row:
            if code >= len(chars):
                break
            text.append(chars[code])
        out.append("".join(text))
    return np.asarray(out, dtype=object)


def whole_string_hits(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per row: every position right (blanks included, so a longer or shorter string is wrong)."""
    codes = pred.argmax(axis=-1) if pred.ndim == 3 else pred
    return np.all(np.asarray(y) == codes, axis=1)
