"""Exports sklearn's bundled data sets (offline) for the MCU cost-model zoo (bench/zoo/make.ts runs this).

    /usr/bin/python3 bench/zoo/export.py <train dir> <measure dir>

Per data set: a fixed shuffled split (numpy seed 0), features scaled to [0, 1] by the training part's
min/max (so many inputs sit at the quantized zero point, as zero skip needs); <train dir>/<name>-train.npz
holds the training part, <measure dir>/<name>.npz the first 64 samples of the rest (x float32, y int64)."""
import os
import sys

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine

MEASURE = 64


def main(train_dir: str, measure_dir: str) -> None:
    os.makedirs(train_dir, exist_ok=True)
    os.makedirs(measure_dir, exist_ok=True)
    for name, load in (("breast_cancer", load_breast_cancer), ("digits", load_digits), ("wine", load_wine)):
        d = load()
        x, y = d.data.astype(np.float64), d.target.astype(np.int64)
        order = np.random.RandomState(0).permutation(len(y))
        x, y = x[order], y[order]
        cut = len(y) - max(MEASURE, len(y) // 5)
        lo, hi = x[:cut].min(axis=0), x[:cut].max(axis=0)
        x = np.clip((x - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0, 1.0).astype(np.float32)
        np.savez(os.path.join(train_dir, f"{name}-train.npz"), x=x[:cut], y=y[:cut])
        np.savez(os.path.join(measure_dir, f"{name}.npz"), x=x[cut:cut + MEASURE], y=y[cut:cut + MEASURE])
        print(f"{name}: {cut} training samples, {MEASURE} measured, {x.shape[1]} features, {len(set(y))} classes")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
