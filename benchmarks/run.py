"""Benchmark xlcnn: build time and memory, file size, formulas, LibreOffice recalculation and verify.

    python benchmarks/run.py [--sizes 28 64] [--repeat 3] [--out benchmarks/results]

Every size builds the bundled sample ``samples/circle-1.jpg`` (thumbnail included, as the CLI does) through the
seeded random model. Times are medians of ``--repeat`` runs. Two "floors" put the
numbers in context: a bare openpyxl script writing the same cells and formulas with
no styles, and a bare ``soffice --headless --convert-to xlsx`` of the same file.
Writes ``latest.md`` and ``latest.json`` in ``--out`` and prints the Markdown.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openpyxl  # noqa: E402
from openpyxl import Workbook, load_workbook  # noqa: E402

import xlcnn  # noqa: E402
from xlcnn.architecture import parse_architecture  # noqa: E402
from xlcnn.libreoffice import CSV_EVERY_SHEET, find_soffice, recalculate_to_csv  # noqa: E402

SAMPLE = Path(os.environ.get("XLCNN_BENCH_PHOTO", ROOT / "samples" / "circle-1.jpg"))   # --photo
LABEL = "circle"   # backprop needs a true label; any class times the same
MEMORY_METHOD = ("peak RSS of a fresh Python subprocess per build: VmHWM from /proc/self/status read inside the "
                 "child (ru_maxrss is not used: after subprocess's vfork+exec it inherits the parent's peak, so "
                 "both RUSAGE_SELF in the child and RUSAGE_CHILDREN in the parent report at least the parent's "
                 "own peak); 'before build' is the same reading after imports, model and image")
# a formula cell in SpreadsheetML is <f>...</f> (or <f t="shared" .../>); <formula1> of data validations is not
FORMULA_TAG = re.compile(rb"<f[\s>/]")


# ---------------------------------------------------------------- measurements


STEPS = int(os.environ.get("XLCNN_BENCH_STEPS", "0"))   # --steps, passed on to the memory subprocess
VARIANT = os.environ.get("XLCNN_BENCH_VARIANT", "default")
VARIANTS = {   # name: (architecture text, descent steps)
    "default": ("conv3x3x4,relu,maxpool2,dense", 0),
    "conv8": ("conv3x3x8,relu,maxpool2,dense", 0),
    "two-blocks": ("conv3x3x4-same,relu,maxpool2,conv3x3x8-same,relu,maxpool2,dense", 0),
    "backprop": ("conv3x3x4,relu,maxpool2,dense", 1),
}


def inputs(size):
    """The seeded random model of the variant and the sample photo at ``size`` x ``size``."""
    layers = parse_architecture(VARIANTS[VARIANT][0], 3)
    return xlcnn.random_model(layers, image_size=size, seed=0), xlcnn.load_image(SAMPLE, size=size)


def steps():
    return STEPS or VARIANTS[VARIANT][1]


def time_build(size, path):
    """Seconds spent in ``build_workbook`` alone (model and image made beforehand), and its BuildResult."""
    model, image = inputs(size)
    start = time.perf_counter()
    result = xlcnn.build_workbook(model, image, path, steps=steps(), source=SAMPLE, label=LABEL)
    return time.perf_counter() - start, result


def peak_rss_kib():
    """This process's peak resident set size in KiB (Linux VmHWM; ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS


def child_build(size, path):
    """Run in the subprocess of ``build_memory``: build once, print the peak RSS (KiB) before and after."""
    model, image = inputs(size)
    before = peak_rss_kib()
    xlcnn.build_workbook(model, image, path, steps=steps(), source=SAMPLE, label=LABEL)
    print(json.dumps({"before_kib": before, "peak_kib": peak_rss_kib()}))


def build_memory(size, path):
    """Peak RSS of one build in a fresh Python process: {'before_kib', 'peak_kib'}."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child-build", str(size), str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def count_xml_formulas(path):
    """Number of <f> elements over all worksheet XML parts of the .xlsx zip."""
    with zipfile.ZipFile(path) as zf:
        return sum(len(FORMULA_TAG.findall(zf.read(name))) for name in zf.namelist()
                   if name.startswith("xl/worksheets/") and name.endswith(".xml"))


def formula_stats(sheets):
    """{sheet title: [formula count, total formula characters]} from ``read_cells`` output."""
    stats = {}
    for title, cells in sheets:
        formulas = [value for _, _, value, kind in cells if kind == "f" or (isinstance(value, str) and value.startswith("="))]
        if formulas:
            stats[title] = [len(formulas), sum(len(f) for f in formulas)]
    return stats


def read_cells(path):
    """Every non-empty cell of the workbook as (sheet title, [(row, col, value, data_type), ...])."""
    wb = load_workbook(path)  # not read_only: the same object model the floor writes
    sheets = [(ws.title, [(c.row, c.column, c.value, c.data_type) for row in ws.iter_rows() for c in row
                          if c.value is not None]) for ws in wb.worksheets]
    wb.close()
    return sheets


def time_floor(sheets, path):
    """Seconds for bare openpyxl to write ``sheets`` (values and formulas, no styles) and save to ``path``."""
    start = time.perf_counter()
    wb = Workbook()
    wb.remove(wb.active)
    for title, cells in sheets:
        ws = wb.create_sheet(title)
        for row, col, value, data_type in cells:
            cell = ws.cell(row=row, column=col, value=value)
            if data_type == "s":
                cell.data_type = "s"  # text that starts with '=' stays text, as xlcnn wrote it
    wb.save(path)
    return time.perf_counter() - start


def time_recalculate(path):
    """Seconds for one ``recalculate_to_csv`` (forced full recalculation, as verify runs it) of ``path``."""
    with tempfile.TemporaryDirectory(prefix="bench-recalc-") as tmp:
        start = time.perf_counter()
        recalculate_to_csv([path], tmp)
        return time.perf_counter() - start


def time_verify(path):
    """Seconds for ``verify_workbook(path)``; exits loudly if the report is not ok."""
    start = time.perf_counter()
    report = xlcnn.verify_workbook(path)
    seconds = time.perf_counter() - start
    if not report.ok:
        print(report.table(), file=sys.stderr)
        sys.exit(f"benchmark aborted: verify_workbook({path}) FAILED")
    return seconds


def time_convert(path, target="xlsx"):
    """Seconds for a bare ``soffice --headless --convert-to TARGET`` of ``path`` with a fresh temp profile.

    ``target`` "xlsx" is the floor the targets are stated against; "csv" (every sheet, as
    verify asks for it, but without verify's forced-recalculation profile) shows what
    LibreOffice alone costs in verify's own conversion.
    """
    with tempfile.TemporaryDirectory(prefix="bench-convert-") as tmp:
        profile, out = Path(tmp) / "profile", Path(tmp) / "out"
        command = [find_soffice(), f"-env:UserInstallation={profile.as_uri()}", "--headless",
                   "--convert-to", CSV_EVERY_SHEET if target == "csv" else target, "--outdir", str(out),
                   str(Path(path).resolve())]
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True, timeout=600, stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        if not any(out.glob(f"{Path(path).stem}*.{target}")):
            sys.exit(f"benchmark aborted: soffice --convert-to {target} produced nothing for {path}")
        return seconds


# ---------------------------------------------------------------- one size


def bench_size(size, repeat):
    """All measurements for one image size, as a dict (medians plus the raw samples)."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{size}-") as tmp:
        book, floor_book = Path(tmp) / f"circle-{size}.xlsx", Path(tmp) / f"floor-{size}.xlsx"
        builds = [time_build(size, book) for _ in range(repeat)]
        result = builds[-1][1]
        xml_formulas = count_xml_formulas(book)
        if xml_formulas != result.formulas:
            print(f"WARNING size {size}: BuildResult.formulas {result.formulas} != <f> in XML {xml_formulas}",
                  file=sys.stderr)
        memory = [build_memory(size, Path(tmp) / "memory.xlsx") for _ in range(repeat)]
        sheets = read_cells(book)
        floors = [time_floor(sheets, floor_book) for _ in range(repeat)]
        floor_formulas = count_xml_formulas(floor_book)
        if floor_formulas != xml_formulas:
            sys.exit(f"benchmark aborted: the floor workbook has {floor_formulas} formulas, not {xml_formulas}")
        recalcs = [time_recalculate(book) for _ in range(repeat)]
        verifies = [time_verify(book) for _ in range(repeat)]
        converts = [time_convert(book) for _ in range(repeat)]
        csv_converts = [time_convert(book, "csv") for _ in range(repeat)]
        raw = {"build_s": [b[0] for b in builds], "floor_s": floors, "recalc_s": recalcs,
               "verify_s": verifies, "convert_s": converts, "csv_convert_s": csv_converts}
        raw_memory = {"peak_rss_kib": [m["peak_kib"] for m in memory],
                      "before_build_rss_kib": [m["before_kib"] for m in memory]}
        med = {k: statistics.median(v) for k, v in raw.items()}
        return {
            "size": size,
            "formulas": result.formulas,
            "xml_formulas": xml_formulas,
            "formulas_match": xml_formulas == result.formulas,
            "cells": sum(len(cells) for _, cells in sheets),
            "file_bytes": book.stat().st_size,
            "floor_file_bytes": floor_book.stat().st_size,
            **med,
            **{k: statistics.median(v) for k, v in raw_memory.items()},
            "build_over_floor": med["build_s"] / med["floor_s"],
            "verify_over_convert": med["verify_s"] / med["convert_s"],
            "recalc_over_convert": med["recalc_s"] / med["convert_s"],
            "verify_over_csv_convert": med["verify_s"] / med["csv_convert_s"],
            "file_over_floor": book.stat().st_size / floor_book.stat().st_size,
            "verify_ok": True,
            "formulas_per_sheet": formula_stats(sheets),
            "raw": {**raw, **raw_memory},
        }


# ---------------------------------------------------------------- report


def machine_info():
    """Where and when the numbers were taken."""
    soffice = find_soffice()
    version = subprocess.run([soffice, "--version"], capture_output=True, text=True, timeout=120).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "openpyxl": openpyxl.__version__,
        "xlcnn": xlcnn.__version__,
        "libreoffice": version,
    }


ROWS = [  # (label, key, format)
    ("formulas (BuildResult)", "formulas", "{:,}"),
    ("formulas (`<f>` in sheet XML)", "xml_formulas", "{:,}"),
    ("non-empty cells", "cells", "{:,}"),
    ("file size (bytes)", "file_bytes", "{:,}"),
    ("file size (kB = 1000 B)", "file_kb", "{:,.1f}"),
    ("floor file size (kB)", "floor_file_kb", "{:,.1f}"),
    ("build (s)", "build_s", "{:.3f}"),
    ("floor: bare openpyxl write (s)", "floor_s", "{:.3f}"),
    ("build / floor", "build_over_floor", "{:.2f}x"),
    ("peak RSS of build process (MiB)", "peak_rss_mb", "{:.1f}"),
    ("RSS before build_workbook (MiB)", "before_build_rss_mb", "{:.1f}"),
    ("LibreOffice recalculate to CSV, as verify (s)", "recalc_s", "{:.2f}"),
    ("verify_workbook (s)", "verify_s", "{:.2f}"),
    ("floor: bare soffice --convert-to xlsx (s)", "convert_s", "{:.2f}"),
    ("bare soffice --convert-to csv, every sheet (s)", "csv_convert_s", "{:.2f}"),
    ("recalculate / convert", "recalc_over_convert", "{:.2f}x"),
    ("verify / convert", "verify_over_convert", "{:.2f}x"),
    ("verify / csv convert", "verify_over_csv_convert", "{:.2f}x"),
    ("verify ok", "verify_ok", "{}"),
]


def markdown(info, results, repeat):
    """The results as a Markdown document: one column per size, one row per metric."""
    derived = [{**r, "file_kb": r["file_bytes"] / 1000, "floor_file_kb": r["floor_file_bytes"] / 1000,
                "peak_rss_mb": r["peak_rss_kib"] / 1024, "before_build_rss_mb": r["before_build_rss_kib"] / 1024}
               for r in results]
    lines = [
        "# xlcnn benchmark",
        "",
        f"{info['date']} | Python {info['python']} | {info['cpu_count']} CPUs | {info['platform']} | "
        f"openpyxl {info['openpyxl']} | {info['libreoffice']}",
        "",
        f"Photo `{SAMPLE.name}`, variant `{VARIANT}` ({VARIANTS[VARIANT][0]}, seeded random weights), "
        f"{steps()} descent step(s). "
        f"Times: median of {repeat} run(s).",
        f"Memory: {MEMORY_METHOD}.",
        "",
        "| metric | " + " | ".join(f"{r['size']}x{r['size']}" for r in derived) + " |",
        "| --- | " + " | ".join("---:" for _ in derived) + " |",
    ]
    for label, key, fmt in ROWS:
        lines.append(f"| {label} | " + " | ".join(fmt.format(r[key]) for r in derived) + " |")
    lines += ["", f"Formulas and formula characters per sheet at {derived[-1]['size']}x{derived[-1]['size']}:", "",
              "| sheet | formulas | characters | characters per formula |", "| --- | ---: | ---: | ---: |"]
    for title, (count, chars) in derived[-1]["formulas_per_sheet"].items():
        lines.append(f"| {title} | {count:,} | {chars:,} | {chars / count:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    """Parse options, benchmark every size, write latest.md and latest.json, print the Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 64], help="image sizes (default 28 64)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the median is reported")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="results folder")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default=VARIANT, help="which workbook to build")
    parser.add_argument("--steps", type=int, default=STEPS,
                        help="gradient-descent steps in the workbook (1 = --backprop; default 0)")
    parser.add_argument("--photo", type=Path, default=SAMPLE, help="the photo to build (default: a bundled sample)")
    parser.add_argument("--child-build", nargs=2, metavar=("SIZE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    globals()["STEPS"] = args.steps   # read by inputs() and the report
    globals()["VARIANT"] = args.variant
    os.environ["XLCNN_BENCH_VARIANT"] = args.variant
    os.environ["XLCNN_BENCH_STEPS"] = str(args.steps)
    os.environ["XLCNN_BENCH_PHOTO"] = str(args.photo.resolve())
    globals()["SAMPLE"] = args.photo.resolve()
    if args.child_build:
        return child_build(int(args.child_build[0]), args.child_build[1])
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if find_soffice() is None:
        sys.exit("LibreOffice (soffice) is needed for the benchmark")
    info = machine_info()
    results = []
    for size in args.sizes:
        print(f"benchmarking {size}x{size} ...", file=sys.stderr, flush=True)
        results.append(bench_size(size, args.repeat))
    text = markdown(info, results, args.repeat)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(text, encoding="utf-8")
    payload = {"machine": info, "sample": SAMPLE.name, "repeat": args.repeat, "variant": args.variant,
               "memory_method": MEMORY_METHOD, "results": results}
    (args.out / "latest.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
