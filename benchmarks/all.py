"""Every benchmark in one command, and one table with each ratio next to its target.

    python benchmarks/all.py [--repeat 3] [--quick] [--out benchmarks/results]

Runs ``run.py`` for the default, two-blocks and backprop workbooks at 28, 64 and 128
pixels and for 8 filters at 128 (the largest book), measures the peak memory of
``xlcnn verify`` on that largest book, runs ``train.py`` and ``handout.py`` (pages and
smallest type of the printed handouts) and ``tables.py`` (``xlcnn summary`` of real networks,
refusals of networks too big to build), and writes ``summary.md``
and ``summary.json`` in ``--out``. ``--quick`` runs 28 and 64 only, once each.
"""

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

PLAN = [("default", [28, 64, 128]), ("two-blocks", [28, 64, 128]), ("backprop", [28, 64, 128]), ("conv8", [128])]
TARGETS = {"build": 1.3, "file": 1.25, "verify": 1.2, "epoch": 2.0, "memory_mib": 1024}


def run(script, *args):
    subprocess.run([sys.executable, str(HERE / script), *map(str, args)], check=True)


def verify_peak_mib(variant, size, photo):
    """Peak RSS of ``xlcnn verify`` (its largest process, LibreOffice included) on one freshly built book.

    Measured in a small wrapper process, so RUSAGE_CHILDREN holds only the verify run's processes.
    """
    sys.path.insert(0, str(HERE))
    import run as bench
    bench.VARIANT, bench.SAMPLE = variant, photo.resolve()
    with tempfile.TemporaryDirectory(prefix="bench-verify-memory-") as tmp:
        book = Path(tmp) / "book.xlsx"
        bench.time_build(size, book)
        wrapper = ("import resource, subprocess, sys\n"
                   "subprocess.run([sys.executable, '-m', 'xlcnn', 'verify', sys.argv[1]], check=True, "
                   "stdout=subprocess.DEVNULL)\n"
                   "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        done = subprocess.run([sys.executable, "-c", wrapper, str(book)], capture_output=True, text=True,
                              check=True, cwd=ROOT)
        return int(done.stdout.strip()) / 1024


def mark(value, target):
    return f"**{value:.2f}x** (<= {target}x) {'met' if value <= target else 'NOT met'}"


def summary_table(results):
    lines = ["| variant | size | formulas | build s | floor s | build/floor | file kB | floor kB | file/floor "
             "| build peak MiB | verify s | convert s | verify/convert | csv convert s |",
             "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: |"]
    for variant, rows in results.items():
        for r in rows:
            lines.append(
                f"| {variant} | {r['size']} | {r['formulas']:,} | {r['build_s']:.2f} | {r['floor_s']:.2f} "
                f"| {mark(r['build_over_floor'], TARGETS['build'])} | {r['file_bytes'] / 1000:,.0f} "
                f"| {r['floor_file_bytes'] / 1000:,.0f} | {mark(r['file_over_floor'], TARGETS['file'])} "
                f"| {r['peak_rss_kib'] / 1024:.0f} | {r['verify_s']:.2f} | {r['convert_s']:.2f} "
                f"| {mark(r['verify_over_convert'], TARGETS['verify'])} | {r['csv_convert_s']:.2f} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the median is reported")
    parser.add_argument("--quick", action="store_true", help="sizes 28 and 64 only, one run each")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--photo", type=Path, default=ROOT / "samples" / "circle-1.jpg", help="the photo to build")
    args = parser.parse_args()
    plan = [(v, [s for s in sizes if s <= 64]) for v, sizes in PLAN] if args.quick else PLAN
    repeat = 1 if args.quick else args.repeat
    results = {}
    for variant, sizes in plan:
        if not sizes:
            continue
        folder = args.out / variant
        run("run.py", "--variant", variant, "--sizes", *sizes, "--repeat", repeat, "--out", folder,
            "--photo", args.photo)
        results[variant] = json.loads((folder / "latest.json").read_text())["results"]
    largest = ("conv8", 128) if not args.quick else ("default", 64)
    memory = verify_peak_mib(*largest, args.photo)
    run("train.py", "--out", args.out)
    train = json.loads((args.out / "train.json").read_text())
    run("handout.py", "--out", args.out, *(["--quick"] if args.quick else []))
    handout = (args.out / "handout.md").read_text(encoding="utf-8").split("\n", 2)[2]   # its table, without its title
    run("tables.py", "--out", args.out, "--repeat", repeat)
    tables = (args.out / "tables.md").read_text(encoding="utf-8")
    machine = json.loads((args.out / plan[0][0] / "latest.json").read_text())["machine"]
    lines = [
        "# xlcnn benchmark summary", "",
        f"{datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}: {machine['cpu_count']} CPUs, "
        f"{machine['platform']}, Python {machine['python']}, openpyxl {machine['openpyxl']}, {machine['libreoffice']}. "
        f"Photo `{args.photo.name}`; medians of {repeat} run(s).", "",
        *summary_table(results), "",
        f"`xlcnn verify` peak memory on {largest[0]} {largest[1]}x{largest[1]} (largest process, LibreOffice "
        f"included): **{memory:.0f} MiB** (target < {TARGETS['memory_mib']} MiB: "
        f"{'met' if memory < TARGETS['memory_mib'] else 'NOT met'}).", "",
        "| pictures | epochs | epoch median s | PyTorch epoch s (float64, 1 thread) | epoch/PyTorch |",
        "| ---: | ---: | ---: | ---: | --- |",
        f"| {train['pictures']:,} | {train['epochs']} | {train['epoch_seconds_median']:.2f} | "
        + (f"{train['torch_epoch_seconds']:.2f} | {mark(train['epoch_over_torch'], TARGETS['epoch'])} |"
           if train.get("torch_epoch_seconds") else "- | torch not installed |"),
        "", "## Handouts (A4)", "", handout.rstrip(),
        "", "## Tables of real networks (xlcnn summary) and refusals", "", tables.rstrip(),
    ]
    text = "\n".join(lines) + "\n"
    (args.out / "summary.md").write_text(text, encoding="utf-8")
    (args.out / "summary.json").write_text(json.dumps({"results": results, "verify_peak_mib": memory,
                                                       "train": train, "machine": machine}, indent=2) + "\n")
    print(text, end="")


if __name__ == "__main__":
    main()
