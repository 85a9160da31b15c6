#!/usr/bin/env python3
"""Recomputes mlstore's monitoring figures with numpy, scipy and scikit-learn.

Reads the JSON document tests/reference.rs writes (the inputs it stored and the figures mlstore
returned), recomputes every figure with the reference implementations, and exits non-zero on
the first one that differs by more than float precision (1e-12, relative).
"""
import json
import math
import sys

import numpy as np
from scipy import stats
from sklearn.metrics import (
    confusion_matrix,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
)

TOLERANCE = 1e-12
checked = 0


def close(what, ours, theirs):
    global checked
    checked += 1
    if ours is None or theirs is None or (isinstance(theirs, float) and math.isnan(theirs)):
        if not (ours is None and (theirs is None or math.isnan(theirs))):
            sys.exit(f"{what}: mlstore {ours!r}, reference {theirs!r}")
        return
    if not math.isclose(ours, theirs, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
        sys.exit(f"{what}: mlstore {ours!r}, reference {theirs!r}")


def check_metrics(case):
    m = case["metrics"]
    conf = np.array(case["confidences"], dtype=np.float64)
    c = m["confidence"]
    close("mean", c["mean"], float(np.mean(conf)))
    close("std_dev", c["std_dev"], float(np.std(conf)))
    close("sample_std_dev", c["sample_std_dev"], float(np.std(conf, ddof=1)))
    for name, q in zip(["p05", "p25", "p50", "p75", "p95"], [0.05, 0.25, 0.5, 0.75, 0.95]):
        close(f"quantile {name}", c["quantiles"][name], float(np.quantile(conf, q)))
    hist, _ = np.histogram(conf, bins=20, range=(0.0, 1.0))
    if list(hist) != c["histogram"]:
        sys.exit(f"histogram: mlstore {c['histogram']}, numpy {list(hist)}")
    y_pred, y_true = case["y_pred"], case["y_true"]
    close("accuracy", m["accuracy"], float(np.mean(np.array(y_pred) == np.array(y_true))))
    labels = [cls for cls in m["confusion_matrix"]["classes"]]
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    if cm.tolist() != m["confusion_matrix"]["counts"]:
        sys.exit(f"confusion matrix: mlstore {m['confusion_matrix']['counts']}, sklearn {cm.tolist()}")
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=np.nan
    )
    for i, cls in enumerate(m["classes"]):
        close(f"precision {cls['class']}", cls["precision"], float(p[i]))
        close(f"recall {cls['class']}", cls["recall"], float(r[i]))
        close(f"f1 {cls['class']}", cls["f1"], float(f[i]))
        if cls["support"] != int(s[i]):
            sys.exit(f"support {cls['class']}: {cls['support']} vs {s[i]}")


def check_regression(case):
    r = case["metrics"]["regression"]
    yp = np.array(case["y_pred"], dtype=np.float64)
    yt = np.array(case["y_true"], dtype=np.float64)
    close("mae", r["mae"], float(mean_absolute_error(yt, yp)))
    close("rmse", r["rmse"], float(np.sqrt(mean_squared_error(yt, yp))))
    close("mean_error", r["mean_error"], float(np.mean(yp - yt)))


def check_drift(case):
    d = case["drift"]
    window = np.array(case["window"], dtype=np.float64)
    base = np.array(case["baseline"], dtype=np.float64)
    e, _ = np.histogram(base, bins=20, range=(0.0, 1.0))
    a, _ = np.histogram(window, bins=20, range=(0.0, 1.0))
    e = np.maximum(e / e.sum(), 1e-4)
    a = np.maximum(a / a.sum(), 1e-4)
    close("psi", d["psi"], float(np.sum((a - e) * np.log(a / e))))
    ks = stats.ks_2samp(window, base)
    close("ks statistic", d["ks_statistic"], float(ks.statistic))
    n, m = len(window), len(base)
    en = n * m / (n + m)
    close("ks p-value", d["ks_pvalue"], float(stats.kstwobign.sf(math.sqrt(en) * ks.statistic)))
    shift = (np.mean(window) - np.mean(base)) / np.std(base)
    close("mean shift", d["mean_shift_sigma"], float(shift))


def check_compare(case):
    c = case["compare"]
    x1, n1, x2, n2 = case["counts"]
    p = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    close("z", c["z"], z)
    close("p-value", c["p_value"], float(2 * stats.norm.sf(abs(z))))
    try:
        from statsmodels.stats.proportion import proportions_ztest

        zs, ps = proportions_ztest([x1, x2], [n1, n2])
        close("z (statsmodels)", c["z"], float(zs))
        close("p-value (statsmodels)", c["p_value"], float(ps))
    except ImportError:
        pass


def main():
    document = json.load(open(sys.argv[1]))
    check_metrics(document["classification"])
    check_regression(document["regression"])
    check_drift(document["drift"])
    check_compare(document["compare"])
    print(f"all {checked} figures agree with numpy/scipy/scikit-learn to {TOLERANCE:g}")


if __name__ == "__main__":
    main()
