"""Fréchet distance between the Gaussian statistics of two feature sets (rows = samples),
with NumPy only: the matrix square root from symmetric eigendecompositions, as a reference for
MotionMetrics.frechetDistance. Prints the distance."""
import sys

import numpy as np


def sqrtm_psd(a):
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def main():
    a = np.loadtxt(sys.argv[1], ndmin=2)
    b = np.loadtxt(sys.argv[2], ndmin=2)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = sqrtm_psd(cov_a)
    inner = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    fd = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    print(repr(float(fd)))


if __name__ == "__main__":
    main()
