"""Handouts as a teacher would print them: pages and the smallest type, measured from the PDF.

    python benchmarks/handout.py [--out benchmarks/results] [--paper a4] [--quick]

Builds the default network (English and Chinese), every preset, ``--backprop``, ``--steps 3``
and the default at 128 pixels, prints each with ``xlcnn handout`` (the classroom handout) and
with ``--full``, and measures every PDF with poppler's pdftotext (xlcnn/pdfmeasure.py): pages,
the smallest type in points, and cells printed as ``###``. Writes ``handout.md`` and
``handout.json`` in ``--out``. ``--quick`` measures the default network only.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from xlcnn.pdfmeasure import measure_pdf, smallest_type   # noqa: E402
from xlcnn.presets import preset_names                    # noqa: E402

TARGET_PAGES, TARGET_TYPE = 12, 7.0


def cases(quick):
    yield "default (en)", []
    yield "default (zh)", ["--lang", "zh"]
    if quick:
        return
    for name in preset_names():
        yield f"preset {name}", ["--preset", name]
    yield "--backprop", ["--backprop"]
    yield "--steps 3", ["--steps", "3"]
    yield "128 px", ["--size", "128"]


def xlcnn(*args):
    subprocess.run([sys.executable, "-m", "xlcnn", *map(str, args)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def measure(book, pdf, paper, *flags):
    start = time.perf_counter()
    xlcnn("handout", book, "-o", pdf, "--paper", paper, *flags)
    seconds = time.perf_counter() - start
    pages = measure_pdf(pdf)
    return {"pages": len(pages), "smallest_pt": smallest_type(pages),
            "hashes": sum(page.text.count("###") for page in pages), "seconds": round(seconds, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--paper", choices=["a4", "letter"], default="a4")
    parser.add_argument("--quick", action="store_true", help="the default network only")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-handout-") as tmp:
        for n, (name, options) in enumerate(cases(args.quick)):
            book = Path(tmp) / f"book{n}.xlsx"
            xlcnn("build", *options, "-o", book)
            row = {"case": name, "options": options,
                   "classroom": measure(book, Path(tmp) / f"c{n}.pdf", args.paper),
                   "full": measure(book, Path(tmp) / f"f{n}.pdf", args.paper, "--full")}
            rows.append(row)
            print(name, row["classroom"], row["full"], flush=True)
    lines = [f"# Handouts ({args.paper})", "",
             f"Classroom handout (`xlcnn handout`) against the targets of the default network "
             f"(<= {TARGET_PAGES} pages, type >= {TARGET_TYPE} pt), and `--full`.", "",
             "| case | pages | smallest pt | ### | full: pages | full: smallest pt | full: ### |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        c, f = row["classroom"], row["full"]
        lines.append(f"| {row['case']} | {c['pages']} | {c['smallest_pt']} | {c['hashes']} "
                     f"| {f['pages']} | {f['smallest_pt']} | {f['hashes']} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "handout.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out / "handout.json").write_text(json.dumps({"paper": args.paper, "results": rows}, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
