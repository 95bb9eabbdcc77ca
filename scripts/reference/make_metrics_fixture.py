"""Write model/tests/fixtures/metrics_sklearn.json: random predictions and scikit-learn's metrics.

Each case holds y_true, y_pred (class indices), probs ([N][NL] rows, float32-representable
so the Rust side reads them exactly) and what scikit-learn computes with its default label set
(labels present in y_true or y_pred), zero_division=0:
accuracy_score, f1_score(average=macro|micro|weighted), precision_recall_fscore_support
(per class over range(NL), and macro averages), confusion_matrix(labels=range(NL)),
top_k_accuracy_score(k=2, labels=range(NL)).

ECE is not in scikit-learn; it is computed here in numpy by the stated formula:
confidence c_i = probs[i, y_pred[i]], M = 10 equal-width bins, bin b_i = min(floor(c_i * M), M - 1),
ECE = sum_b (n_b / N) * |acc_b - conf_b| with acc_b the fraction of correct predictions and
conf_b the mean confidence in bin b (empty bins contribute 0).

Usage: .venv-ref/bin/python scripts/reference/make_metrics_fixture.py
"""

import json
import pathlib

import numpy as np
import sklearn
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

OUT = pathlib.Path(__file__).resolve().parents[2] / "model/tests/fixtures/metrics_sklearn.json"
BINS = 10


def probs_for(rng, y_true, nl, sharpness):
    """Random softmax rows that lean towards the true class; float32-exact values."""
    logits = rng.normal(size=(len(y_true), nl))
    logits[np.arange(len(y_true)), y_true] += sharpness
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p.astype(np.float32).astype(np.float64)


def ece(y_true, y_pred, probs):
    conf = probs[np.arange(len(y_pred)), y_pred]
    correct = (y_true == y_pred).astype(np.float64)
    bins = np.minimum(np.floor(conf * BINS).astype(int), BINS - 1)
    total = 0.0
    for b in range(BINS):
        m = bins == b
        if m.any():
            total += m.sum() / len(y_true) * abs(correct[m].mean() - conf[m].mean())
    return total


def case(name, y_true, probs, nl):
    y_pred = probs.argmax(axis=1)
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(nl)), zero_division=0
    )
    mp, mr, mf, _ = precision_recall_fscore_support(
        y_true, y_pred, average="macro", zero_division=0
    )
    return {
        "name": name,
        "num_labels": nl,
        "y_true": y_true.tolist(),
        "y_pred": y_pred.tolist(),
        "probs": probs.tolist(),
        "accuracy": accuracy_score(y_true, y_pred),
        "f1_macro": f1_score(y_true, y_pred, average="macro", zero_division=0),
        "f1_micro": f1_score(y_true, y_pred, average="micro", zero_division=0),
        "f1_weighted": f1_score(y_true, y_pred, average="weighted", zero_division=0),
        "precision_macro": mp,
        "recall_macro": mr,
        "precision": p.tolist(),
        "recall": r.tolist(),
        "f1": f.tolist(),
        "support": s.tolist(),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=list(range(nl))).tolist(),
        "top2_accuracy": top_k_accuracy_score(y_true, probs, k=2, labels=list(range(nl))),
        "ece_10_bins": ece(y_true, y_pred, probs),
    }


def main():
    rng = np.random.default_rng(20261129)
    cases = []
    # 5 classes, 200 examples, moderately accurate.
    y = rng.integers(0, 5, size=200)
    cases.append(case("random5", y, probs_for(rng, y, 5, 1.5), 5))
    # 7 classes, 60 examples, weak: some classes get few or no predictions.
    y = rng.integers(0, 7, size=60)
    cases.append(case("weak7", y, probs_for(rng, y, 7, 0.3), 7))
    # 6 labels: class 5 never occurs (excluded from macro averages as in sklearn's default),
    # class 3 is never predicted, class 4 is predicted but has no support.
    y = rng.choice([0, 1, 2, 3], size=80)
    p = probs_for(rng, y, 6, 1.0)
    p[:, 5] = 0.0
    p[:, 3] = 0.0
    p[:5, 4] = 2.0  # force 5 predictions of class 4
    p = p / p.sum(axis=1, keepdims=True)
    p = p.astype(np.float32).astype(np.float64)
    cases.append(case("absent_classes6", y, p, 6))
    OUT.write_text(
        json.dumps({"sklearn": sklearn.__version__, "bins": BINS, "cases": cases}) + "\n"
    )
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
