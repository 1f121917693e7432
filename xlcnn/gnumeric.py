"""Recalculate workbooks in Gnumeric (``ssconvert --recalc``), a second engine for verify.

Without ``--recalc`` ssconvert would show the values stored in the file; with it every
formula is computed again by Gnumeric itself. One ssconvert run per workbook: it
starts in a few hundredths of a second, so there is nothing to batch.
"""

import os
import shutil
from pathlib import Path

from .engines import DEFAULT_TIMEOUT, Engine, run
from .errors import EngineMissingError

INSTALL_HINT = "install it with: apt-get install gnumeric"

# Every sheet its own CSV file ("-S", named after the sheet by %s), each number as its raw
# value at full precision (up to 17 significant digits and more; 1.234e-25 stays
# 1.234e-25), never "as shown", with a point whatever the user's locale: a German
# locale would otherwise write "0,5" and "WAHR".
CSV_OPTIONS = "locale=C format=raw separator=, quoting-mode=auto charset=UTF-8 eol=unix"


def find_ssconvert():
    """Gnumeric's converter, or None."""
    return shutil.which("ssconvert")


def recalculate_to_csv(paths, out_dir, timeout=DEFAULT_TIMEOUT):
    """Recalculate each workbook and write every sheet's values as CSV: "<stem>-<sheet>.csv".

    Gnumeric's CSV starts at the first cell that holds something, not at A1 (see
    ``ENGINE.csv_from_a1``). Returns, per workbook, {sheet name: CSV path}.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for path in paths:
        stem = Path(path).stem
        _ssconvert(["-S", "-T", "Gnumeric_stf:stf_assistant", "-O", CSV_OPTIONS, str(path),
                    str(out_dir / f"{stem}-%s.csv")], timeout)
        prefix = f"{stem}-"
        files = {file.name[len(prefix):-len(".csv")]: file for file in out_dir.iterdir()
                 if file.name.startswith(prefix) and file.suffix == ".csv"}
        if not files:
            raise EngineMissingError(f"Gnumeric did not recalculate {Path(path).name}; is the workbook readable?")
        results.append(files)
    return results


def recalculate(paths, out_dir, timeout=DEFAULT_TIMEOUT):
    """Recalculate each workbook and save a copy in ``out_dir`` (values at full precision)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for path in paths:
        target = out_dir / f"{Path(path).stem}.xlsx"
        _ssconvert(["-T", "Gnumeric_Excel:xlsx2", str(path), str(target)], timeout)
        if not target.exists():
            raise EngineMissingError(f"Gnumeric did not produce {target}; is the workbook readable?")
        results.append(target)
    return results


def _ssconvert(arguments, timeout):
    ssconvert = find_ssconvert()
    if ssconvert is None:
        raise EngineMissingError(f"Gnumeric (ssconvert) is needed to recalculate the workbook; {INSTALL_HINT}")
    env = {key: value for key, value in os.environ.items() if key != "DISPLAY"}   # needs no screen
    run([ssconvert, "--recalc", *arguments], timeout, env, "Gnumeric")


ENGINE = Engine("gnumeric", "Gnumeric", recalculate_to_csv, recalculate, csv_step=0.0, csv_from_a1=False,
                install_hint=INSTALL_HINT)
