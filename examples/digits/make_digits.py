#!/usr/bin/python3
"""Writes the 8x8 digits fixtures of docs/RESULTS.md ("A second data set") from scikit-learn's copy of the
UCI optical digits (sklearn.datasets.load_digits: 1797 samples, 64 features 0..16, labels 0..9).

    /usr/bin/python3 examples/digits/make_digits.py

digits-train.npz: x float32 [1500, 64], y int64 [1500]   (the first 1500 samples)
digits-test.csv:  297 rows, header p0..p63,label          (the last 297 samples)
digits.json:      sizes and the versions that wrote them
No randomness: the split is by position."""
import json, os, sys
import numpy as np
import sklearn
from sklearn.datasets import load_digits

here = os.path.dirname(os.path.abspath(__file__))
d = load_digits()
x, y = d.data.astype(np.float32), d.target.astype(np.int64)
n_train = 1500
np.savez_compressed(os.path.join(here, "digits-train.npz"), x=x[:n_train], y=y[:n_train])
with open(os.path.join(here, "digits-test.csv"), "w") as f:
    f.write(",".join([f"p{i}" for i in range(64)] + ["label"]) + "\n")
    for row, label in zip(x[n_train:], y[n_train:]):
        f.write(",".join(str(int(v)) for v in row) + f",{int(label)}\n")
with open(os.path.join(here, "digits.json"), "w") as f:
    json.dump({"source": "sklearn.datasets.load_digits", "train": {"file": "digits-train.npz", "samples": n_train},
               "test": {"file": "digits-test.csv", "samples": int(len(y) - n_train)}, "features": 64, "classes": 10,
               "python": sys.version.split()[0], "numpy": np.__version__, "sklearn": sklearn.__version__}, f, indent=1)
    f.write("\n")
