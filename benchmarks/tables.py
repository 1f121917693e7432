"""How fast the tables of real networks are: ``xlcnn summary`` and the refusal of a network too big to build.

    python benchmarks/tables.py [--repeat 3] [--out benchmarks/results]

For each of lenet5, alexnet and vgg16: the command ``xlcnn summary --preset NAME -o BOOK`` (a fresh
process, as a teacher runs it) and ``xlcnn verify BOOK`` (LibreOffice's recalculation and the
comparison); and ``xlcnn build --preset vgg16``'s and ``xlcnn build --arch <VGG-16> --size 224``'s
refusals. Targets: summary + recalculation under 10 s, a refusal under 2 s. Writes
``tables.md`` and ``tables.json`` in ``--out``.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from xlcnn.presets import load_preset  # noqa: E402

TARGETS = {"table": 10.0, "refusal": 2.0}


def seconds(*args, ok=True):
    """Wall time of one ``python -m xlcnn ARGS`` run; it must succeed (or fail, with ``ok`` False)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "xlcnn", *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    if (done.returncode == 0) != ok:
        raise SystemExit(f"xlcnn {' '.join(map(str, args))}: exit {done.returncode}\n{done.stdout}{done.stderr}")
    return time.perf_counter() - start


def median(runs, *args, ok=True):
    return statistics.median(seconds(*args, ok=ok) for _ in range(runs))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    rows, refusals = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("lenet5", "alexnet", "vgg16"):
            book = Path(tmp) / f"{name}.xlsx"
            summary = median(args.repeat, "summary", "--preset", name, "-o", book)
            verify = median(args.repeat, "verify", book)
            rows.append({"preset": name, "summary_s": summary, "verify_s": verify, "total_s": summary + verify})
        vgg = load_preset("vgg16").architecture
        refusals["build --preset vgg16"] = median(args.repeat, "build", "--preset", "vgg16", "-o", Path(tmp) / "x.xlsx",
                                                  ok=False)
        refusals["build --arch <VGG-16> --size 224"] = median(args.repeat, "build", "--arch", vgg, "--size", 224,
                                                              "-o", Path(tmp) / "x.xlsx", ok=False)
    lines = ["| table | summary s | verify s (LibreOffice) | total s | target |", "| --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        met = "met" if r["total_s"] < TARGETS["table"] else "NOT met"
        lines.append(f"| {r['preset']} | {r['summary_s']:.2f} | {r['verify_s']:.2f} | {r['total_s']:.2f} | "
                     f"< {TARGETS['table']:g} s {met} |")
    lines += ["", "| refusal | s | target |", "| --- | ---: | --- |"]
    for what, value in refusals.items():
        lines.append(f"| {what} | {value:.2f} | < {TARGETS['refusal']:g} s "
                     f"{'met' if value < TARGETS['refusal'] else 'NOT met'} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tables.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out / "tables.json").write_text(json.dumps({"tables": rows, "refusals": refusals}, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
