"""How fast a teacher's own model comes in and goes out: ONNX import, build, verify and export.

    python benchmarks/imported.py [--repeat 3] [--out benchmarks/results]

A LeNet-style network (1 x 28 x 28, conv 3x3x6, pool, conv 3x3x16, pool, 120-84-10) and a small
residual network with batch norm (3 x 32 x 32), written with ``onnx.helper`` as PyTorch's legacy
exporter writes them (so PyTorch is not needed): for each, ``xlcnn summary --model``, ``xlcnn build
--model`` on the bundled sample, ``xlcnn verify`` of that book and ``xlcnn export`` of it back to
ONNX, each a fresh process as a teacher runs it. Writes ``imported.md`` and ``imported.json`` in ``--out``.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def seconds(*args):
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "xlcnn", *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"xlcnn {' '.join(map(str, args))}: exit {done.returncode}\n{done.stdout}{done.stderr}")
    return time.perf_counter() - start


class Graph:
    def __init__(self):
        self.rng, self.nodes, self.stored, self.count = np.random.default_rng(0), [], [], 0

    def weight(self, *shape):
        self.count += 1
        self.stored.append(numpy_helper.from_array((self.rng.normal(size=shape) * 0.2).astype(np.float32), f"w{self.count}"))
        return self.stored[-1].name

    def add(self, op, *inputs, **attrs):
        self.count += 1
        self.nodes.append(helper.make_node(op, list(inputs), [f"t{self.count}"], name=f"n{self.count}", **attrs))
        return f"t{self.count}"

    def conv(self, x, cin, cout, k, pad):
        return self.add("Conv", x, self.weight(cout, cin, k, k), self.weight(cout), kernel_shape=[k, k], pads=[pad] * 4)

    def save(self, path, out, shape):
        graph = helper.make_graph(self.nodes, "bench", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, *shape])],
                                  [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], self.stored)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save_model(model, str(path))


def lenet(path):
    g = Graph()
    x = g.add("MaxPool", g.add("Relu", g.conv("x", 1, 6, 3, 1)), kernel_shape=[2, 2], strides=[2, 2])
    x = g.add("MaxPool", g.add("Relu", g.conv(x, 6, 16, 3, 0)), kernel_shape=[2, 2], strides=[2, 2])
    x = g.add("Flatten", x, axis=1)
    for inputs, outputs in ((16 * 6 * 6, 120), (120, 84), (84, 10)):
        x = g.add("Gemm", x, g.weight(outputs, inputs), g.weight(outputs), transB=1)
        x = g.add("Relu", x) if outputs != 10 else x
    g.save(path, x, (1, 28, 28))


def residual(path):
    g = Graph()

    def norm(x, c):
        return g.add("BatchNormalization", x, *(g.weight(c) for _ in range(3)),
                     g.stored.append(numpy_helper.from_array(np.ones(c, np.float32), f"v{g.count}")) or f"v{g.count}")
    stem = g.add("Relu", norm(g.conv("x", 3, 8, 3, 1), 8))
    y = g.add("Relu", norm(g.conv(stem, 8, 8, 3, 1), 8))
    y = norm(g.conv(y, 8, 8, 3, 1), 8)
    x = g.add("Relu", g.add("Add", stem, y))
    x = g.add("Flatten", g.add("GlobalAveragePool", x), axis=1)
    g.save(path, g.add("Gemm", x, g.weight(3, 8), g.weight(3), transB=1), (3, 32, 32))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, make in (("lenet", lenet), ("residual", residual)):
            model = tmp / f"{name}.onnx"
            make(model)
            book = tmp / f"{name}.xlsx"
            timings = {
                "summary": [seconds("summary", "--model", model) for _ in range(args.repeat)],
                "build": [seconds("build", "--model", model, "-o", book) for _ in range(args.repeat)],
                "verify": [seconds("verify", book) for _ in range(args.repeat)],
                "export": [seconds("export", book, "-o", tmp / f"{name}-out.onnx") for _ in range(args.repeat)],
            }
            rows.append({"model": name, **{k: statistics.median(v) for k, v in timings.items()}, "raw": timings})
    args.out.mkdir(parents=True, exist_ok=True)
    lines = ["| model | summary (s) | build (s) | verify (s) | export (s) |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['model']} | {r['summary']:.2f} | {r['build']:.2f} | {r['verify']:.2f} | {r['export']:.2f} |" for r in rows]
    (args.out / "imported.md").write_text("\n".join(lines) + "\n")
    (args.out / "imported.json").write_text(json.dumps(rows, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
