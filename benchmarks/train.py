"""Benchmark training: the shipped model's recipe, timed per epoch, on one BLAS thread.

    python benchmarks/train.py [--out benchmarks/results]

Generates the shapes dataset (800 pictures per class, seed 1) in memory, trains the
default network with the default settings, and writes ``train.md`` and ``train.json``.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from xlcnn.datasets import generate_shapes  # noqa: E402
from xlcnn.network import random_model  # noqa: E402
from xlcnn.pipeline import architecture  # noqa: E402
from xlcnn.train import TrainConfig, train_model  # noqa: E402


def measure():
    """Seconds to generate the data and to train, per-epoch seconds, and the accuracies."""
    started = time.perf_counter()
    images, labels, names = generate_shapes(800, size=28, seed=1)
    order = np.argsort(labels, kind="stable")
    generated = time.perf_counter()
    model = random_model(architecture(len(names)), names, image_size=28, seed=0)
    result = train_model(model, images[order], labels[order], TrainConfig(seed=0))
    finished = time.perf_counter()
    epochs = [s.seconds for s in result.history]
    return {
        "pictures": int(len(labels)), "epochs": len(epochs),
        "generate_seconds": round(generated - started, 3), "train_seconds": round(finished - generated, 3),
        "epoch_seconds_median": round(float(np.median(epochs)), 3), "epoch_seconds": [round(e, 3) for e in epochs],
        "train_accuracy": result.train_accuracy, "val_accuracy": result.val_accuracy,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    figures = measure()
    figures["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    table = "\n".join([
        "| pictures | epochs | generate (s) | train (s) | epoch median (s) | train acc | validation acc |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {figures['pictures']} | {figures['epochs']} | {figures['generate_seconds']} | {figures['train_seconds']} "
        f"| {figures['epoch_seconds_median']} | {figures['train_accuracy']:.1%} | {figures['val_accuracy']:.1%} |",
    ])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.md").write_text(table + "\n", encoding="utf-8")
    (out / "train.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
