"""What verify needs from a spreadsheet engine, and the one way xlcnn runs one.

Each engine (``libreoffice.ENGINE``, ``gnumeric.ENGINE``) recalculates copies of
workbooks from scratch and hands back the values, quickly as one CSV file per
sheet or exactly as a recalculated .xlsx copy. Everything else in verify (reading
the workbook, NumPy, the comparison) is shared by all engines.
"""

import os
import signal
import subprocess
from dataclasses import dataclass
from typing import Callable

from .errors import EngineMissingError

DEFAULT_TIMEOUT = 600      # seconds an engine may take before it is stopped


@dataclass(frozen=True)
class Engine:
    """One spreadsheet engine, as verify uses it.

    ``to_csv(paths, out_dir, timeout)`` recalculates every workbook and returns, per
    workbook, {sheet name: CSV file} (or None when this version cannot write every
    sheet). ``to_xlsx(paths, out_dir, timeout)`` returns recalculated .xlsx copies.
    ``csv_step`` is the coarsest absolute rounding of a number in its CSV (0 when
    every number keeps full precision); ``csv_from_a1`` says whether each CSV file
    starts at cell A1 or at the first cell that holds something.
    """

    name: str
    title: str
    to_csv: Callable
    to_xlsx: Callable
    csv_step: float
    csv_from_a1: bool
    install_hint: str


def run(command, timeout, env, title):
    """Run an engine's command; a hang is stopped with its whole process group, a failure raised."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise EngineMissingError(f"{title} took longer than {timeout} s and was stopped") from None
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip().splitlines()
        raise EngineMissingError(f"{title} failed (exit {process.returncode}): {message[-1] if message else 'no message'}")
