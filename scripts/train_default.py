"""Reproduce the shipped default model, samples/default_model.npz, with the xlcnn command.

    python scripts/train_default.py            # about 15-20 s on one core

Generates the shapes dataset (seed 1, 800 pictures per class, 64 px) into a
temporary folder, then runs `xlcnn train` on it with the defaults below.
`python benchmarks/train.py --reproduce` runs the same recipe in memory, checks it
gives the shipped weights, and records both fingerprints for the tests.
"""

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INIT_FILTERS = ("vertical", "horizontal", "laplacian", "sharpen")
DATA_ARGS = ["--per-class", "800", "--size", "64", "--seed", "1"]
TRAIN_ARGS = ["--size", "28", "--filters", "4", "--kernel", "3", "--pool", "2",
              "--epochs", "20", "--lr", "0.01", "--optimizer", "adam", "--seed", "0",
              # filters that start as edges and a spot finder stay nameable, and each one fires on every sample
              "--init-filters", ",".join(INIT_FILTERS)]
# The recipe cut short (120 pictures, 3 epochs; the same code, seeds and settings otherwise): the tests
# run it in a second and compare with tests/snapshots/recipe_short_model.npz.
SHORT = {"--per-class": "40", "--epochs": "3"}


def cut_short(args):
    """``args`` with the options named in SHORT given their short values."""
    return [SHORT.get(args[n - 1], arg) if n else arg for n, arg in enumerate(args)]


def recipe_fingerprint():
    """SHA-256 of the recipe's arguments: changing any of them means training the shipped model again."""
    return hashlib.sha256(json.dumps({"data": DATA_ARGS, "train": TRAIN_ARGS}).encode()).hexdigest()


def model_fingerprint(path):
    """SHA-256 of every array in a model file (names, shapes, dtypes, bytes), whatever the zip's timestamps."""
    import numpy as np
    digest = hashlib.sha256()
    with np.load(path, allow_pickle=False) as stored:
        for name in sorted(stored.files):
            array = stored[name]
            digest.update(f"{name} {array.dtype.str} {array.shape}\n".encode())
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def differences(a, b):
    """What two model files hold differently, read as models (whatever the file format's version): the names of
    the attributes that differ, weights and accuracies beyond 1e-7 relative."""
    import math
    import numpy as np
    sys.path.insert(0, str(ROOT))
    from xlcnn.network import load_model
    x, y = vars(load_model(a)), vars(load_model(b))

    def same(p, q):
        if isinstance(p, (list, tuple)) and isinstance(q, (list, tuple)):
            return len(p) == len(q) and all(map(same, p, q))
        if isinstance(p, dict) and isinstance(q, dict):
            return sorted(p) == sorted(q) and all(same(p[key], q[key]) for key in p)
        if isinstance(p, np.ndarray) or isinstance(p, float):
            return np.shape(p) == np.shape(q) and np.allclose(p, q, rtol=1e-7, atol=1e-9, equal_nan=True)
        return p == q
    return [name for name in sorted(set(x) | set(y)) if not same(x.get(name, math.nan), y.get(name, math.nan))]


if __name__ == "__main__":
    output = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "samples" / "default_model.npz")
    xlcnn = [sys.executable, "-m", "xlcnn"]
    with tempfile.TemporaryDirectory() as data:
        subprocess.run([*xlcnn, "demo-data", data, *DATA_ARGS], check=True)
        subprocess.run([*xlcnn, "train", data, "-o", output, *TRAIN_ARGS], check=True)
