"""Benchmark training: the shipped model's recipe, timed per epoch, on one BLAS thread.

    python benchmarks/train.py [--out benchmarks/results]
    python benchmarks/train.py --reproduce

Generates the shapes dataset (800 pictures per class, seed 1) in memory, trains the
default network with the default settings, and writes ``train.md`` and ``train.json``.

``--reproduce`` instead runs scripts/train_default.py in full (20 epochs, about half a
minute) and its recipe cut short, and checks they give the shipped model and the tests'
snapshot of the short run; then it writes the three fingerprints to
tests/snapshots/shipped_model.json, which tests/test_train.py compares with the files.
"""

import argparse
import datetime
import json
import os
import platform
import runpy
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from xlcnn.datasets import generate_shapes  # noqa: E402
from xlcnn.network import lesson_architecture, load_model, random_model  # noqa: E402
from xlcnn.train import TrainConfig, train_model  # noqa: E402


def measure():
    """Seconds to generate the data and to train, per-epoch seconds, and the accuracies."""
    started = time.perf_counter()
    images, labels, names = generate_shapes(800, size=28, seed=1)
    order = np.argsort(labels, kind="stable")
    generated = time.perf_counter()
    model = random_model(lesson_architecture(len(names)), names, image_size=28, seed=0)
    result = train_model(model, images[order], labels[order], TrainConfig(seed=0))
    finished = time.perf_counter()
    epochs = [s.seconds for s in result.history]
    return {
        "pictures": int(len(labels)), "epochs": len(epochs),
        "generate_seconds": round(generated - started, 3), "train_seconds": round(finished - generated, 3),
        "epoch_seconds_median": round(float(np.median(epochs)), 3), "epoch_seconds": [round(e, 3) for e in epochs],
        "train_accuracy": result.train_accuracy, "val_accuracy": result.val_accuracy,
    }


def torch_epoch_seconds(images, labels, epochs=3, batch_size=32):
    """The same network, data, batch size and optimiser in PyTorch (CPU, one thread): median epoch seconds.

    Returns None when torch is not installed (it is an optional benchmark extra).
    """
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 13 * 13, 3)).double()
    optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
    x = torch.tensor(images.transpose(0, 3, 1, 2) / 255.0)
    y = torch.tensor(labels)
    train = int(len(y) * 0.8)
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(train)
        for b in range(0, train, batch_size):
            batch = order[b:b + batch_size]
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[batch]), y[batch])
            loss.backward()
            optimiser.step()
        with torch.no_grad():   # the accuracy passes xlcnn also makes each epoch
            net(x[:train]).argmax(1)
            net(x[train:]).argmax(1)
        times.append(time.perf_counter() - started)
    return float(np.median(times))


SHIPPED = ROOT / "samples" / "default_model.npz"
SHORT_SNAPSHOT = ROOT / "tests" / "snapshots" / "recipe_short_model.npz"
RECORD = ROOT / "tests" / "snapshots" / "shipped_model.json"


def reproduce():
    """Train the recipe in full and cut short with the xlcnn command; record the fingerprints when both match."""
    recipe = runpy.run_path(str(ROOT / "scripts" / "train_default.py"))
    xlcnn = [sys.executable, "-m", "xlcnn"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        full, short = Path(tmp) / "full.npz", Path(tmp) / "short.npz"
        subprocess.run([sys.executable, str(ROOT / "scripts" / "train_default.py"), str(full)], check=True, env=env)
        subprocess.run([*xlcnn, "demo-data", f"{tmp}/data", *recipe["cut_short"](recipe["DATA_ARGS"])], check=True, env=env)
        subprocess.run([*xlcnn, "train", f"{tmp}/data", "-o", str(short), *recipe["cut_short"](recipe["TRAIN_ARGS"])],
                       check=True, env=env)
        failures = {"shipped model": recipe["differences"](full, SHIPPED),
                    "short-run snapshot": recipe["differences"](short, SHORT_SNAPSHOT)}
        assert load_model(full).val_accuracy >= 0.97, "the recipe's model is below 97% on its validation pictures"
    failures = {what: names for what, names in failures.items() if names}
    if failures:
        sys.exit(f"not reproduced: {failures}")
    record = {"recipe": recipe["recipe_fingerprint"](), "shipped_model": recipe["model_fingerprint"](SHIPPED),
              "short_run": recipe["model_fingerprint"](SHORT_SNAPSHOT),
              "reproduced": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    RECORD.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"reproduced the shipped model and the short run; wrote {RECORD.relative_to(ROOT)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--reproduce", action="store_true", help="check the shipped model is its recipe's; record it")
    args = parser.parse_args()
    if args.reproduce:
        reproduce()
        return
    figures = measure()
    images, labels, _ = generate_shapes(800, size=28, seed=1)
    torch_seconds = torch_epoch_seconds(images, labels)
    figures["torch_epoch_seconds"] = torch_seconds
    figures["epoch_over_torch"] = figures["epoch_seconds_median"] / torch_seconds if torch_seconds else None
    figures["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    ratio = f"{figures['epoch_over_torch']:.2f}x" if figures["epoch_over_torch"] else "torch not installed"
    torch_text = f"{figures['torch_epoch_seconds']:.3f}" if figures["torch_epoch_seconds"] else "-"
    table = "\n".join([
        "| pictures | epochs | generate (s) | train (s) | epoch median (s) | PyTorch epoch (s) | epoch / PyTorch "
        "(target <= 2x) | train acc | validation acc |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {figures['pictures']} | {figures['epochs']} | {figures['generate_seconds']} | {figures['train_seconds']} "
        f"| {figures['epoch_seconds_median']} | {torch_text} | {ratio} | {figures['train_accuracy']:.1%} "
        f"| {figures['val_accuracy']:.1%} |",
    ])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.md").write_text(table + "\n", encoding="utf-8")
    (out / "train.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
