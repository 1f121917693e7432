"""Reproduce the shipped default model, samples/default_model.npz, with the xlcnn command.

    python scripts/train_default.py            # about 15-20 s on one core

Generates the shapes dataset (seed 1, 800 pictures per class, 64 px) into a
temporary folder, then runs `xlcnn train` on it with the defaults below.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INIT_FILTERS = ("vertical", "horizontal", "laplacian", "sharpen")
TRAIN_ARGS = ["--size", "28", "--filters", "4", "--kernel", "3", "--pool", "2",
              "--epochs", "20", "--lr", "0.01", "--optimizer", "adam", "--seed", "0",
              # filters that start as edges and a spot finder stay nameable, and each one fires on every sample
              "--init-filters", ",".join(INIT_FILTERS)]

if __name__ == "__main__":
    output = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "samples" / "default_model.npz")
    xlcnn = [sys.executable, "-m", "xlcnn"]
    with tempfile.TemporaryDirectory() as data:
        subprocess.run([*xlcnn, "demo-data", data, "--per-class", "800", "--size", "64", "--seed", "1"], check=True)
        subprocess.run([*xlcnn, "train", data, "-o", output, *TRAIN_ARGS], check=True)
