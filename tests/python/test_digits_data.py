"""The committed digits data (examples/data, exported by tools/export_digits.py):
shapes, dtypes, the known class counts of the UCI test set, pixel values k/16,
one-hot rows that match the labels, and the SHA-256 recorded in its README."""
import hashlib
import os
import re

import numpy as np

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    "examples", "data")


def test_digits_files_hold_the_uci_test_set():
    x = np.load(os.path.join(DATA, "digits_x.npy"))
    y = np.load(os.path.join(DATA, "digits_y.npy"))
    onehot = np.load(os.path.join(DATA, "digits_y_onehot.npy"))
    assert x.dtype == np.float32 and x.shape == (1797, 64)
    assert y.dtype == np.int64 and y.shape == (1797,)
    assert onehot.dtype == np.float32 and onehot.shape == (1797, 10)
    # The class sizes of the UCI set's test part (digits 0..9).
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    counts = x * 16
    assert np.all(counts == np.round(counts)) and counts.min() == 0 and counts.max() == 16
    assert np.array_equal(np.argmax(onehot, axis=1), y) and np.all(onehot.sum(axis=1) == 1)


def test_digits_files_match_the_recorded_hashes():
    readme = open(os.path.join(DATA, "README.md")).read()
    recorded = dict(re.findall(r"(digits_\w+\.npy) `([0-9a-f]{64})`", readme))
    assert set(recorded) == {"digits_x.npy", "digits_y.npy", "digits_y_onehot.npy"}
    for name, digest in recorded.items():
        assert hashlib.sha256(open(os.path.join(DATA, name), "rb").read()).hexdigest() == digest
