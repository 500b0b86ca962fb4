#!/usr/bin/env python3
"""Exports the 8x8 handwritten digits (1,797 samples, 10 classes) as .npy files
for saddlescope's network objective (examples/data/, docs in its README.md).

  python3 tools/export_digits.py [OUT_DIR]      (default: examples/data)

The data come from scikit-learn's copy (sklearn/datasets/data/digits.csv.gz) of
the test set of the UCI "Optical Recognition of Handwritten Digits" data set
(E. Alpaydin, C. Kaynak, 1998), installed by Debian's python3-sklearn
(apt-get install python3-sklearn). Written, in scikit-learn's sample order:
  digits_x.npy         float32 [1797, 64]  pixel counts 0..16 divided by 16 (exact)
  digits_y.npy         int64   [1797]      the digit, 0..9 (cross-entropy labels)
  digits_y_onehot.npy  float32 [1797, 10]  one-hot rows of the same (squared-error targets)
and prints each file's SHA-256 (recorded in examples/data/README.md).
"""
import hashlib
import os
import sys

import numpy as np


def main():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("export_digits: needs scikit-learn (Debian: apt-get install python3-sklearn)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "examples", "data")
    os.makedirs(out, exist_ok=True)
    d = load_digits()
    x = np.ascontiguousarray(d.data / 16.0, dtype=np.float32)
    y = np.ascontiguousarray(d.target, dtype=np.int64)
    onehot = np.zeros((y.size, 10), dtype=np.float32)
    onehot[np.arange(y.size), y] = 1
    assert x.shape == (1797, 64) and y.shape == (1797,) and set(np.unique(y)) == set(range(10))
    for name, a in (("digits_x.npy", x), ("digits_y.npy", y), ("digits_y_onehot.npy", onehot)):
        path = os.path.join(out, name)
        np.save(path, a)
        print(f"{name}  {a.dtype}  {list(a.shape)}  sha256 {hashlib.sha256(open(path, 'rb').read()).hexdigest()}")


if __name__ == "__main__":
    main()
