# Writes build/sklearn/{bc,digits}-{train,val,test}.npz from scikit-learn's bundled data sets (offline):
# breast_cancer (30 features, standardized on the training split) and digits (8×8, scaled to [0, 1]);
# 70 / 15 / 15 % stratified splits, random_state 0. Used by bench/models/README.md.
import os
import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

out = os.path.join(os.path.dirname(__file__), "..", "..", "build", "sklearn")
os.makedirs(out, exist_ok=True)
for name, loader in [("bc", load_breast_cancer), ("digits", load_digits)]:
    d = loader()
    x, y = d.data.astype(np.float32), d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    xv, xte, yv, yte = train_test_split(xte, yte, test_size=0.5, random_state=0, stratify=yte)
    if name == "bc":
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        xtr, xv, xte = (xtr - mu) / sd, (xv - mu) / sd, (xte - mu) / sd
    else:
        xtr, xv, xte = xtr / 16, xv / 16, xte / 16
    for split, xs, ys in [("train", xtr, ytr), ("val", xv, yv), ("test", xte, yte)]:
        np.savez(os.path.join(out, f"{name}-{split}.npz"), x=xs.astype(np.float32), y=ys)
