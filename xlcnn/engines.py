"""What verify needs from a spreadsheet engine, and the one way xlcnn runs one.

Each engine (``libreoffice.ENGINE``, ``gnumeric.ENGINE``) recalculates copies of
workbooks from scratch and hands back the values, quickly as one CSV file per
sheet or exactly as a recalculated .xlsx copy. Everything else in verify (reading
the workbook, NumPy, the comparison) is shared by all engines.
"""

import os
import signal
import subprocess
import threading
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
    """Run an engine's command; a hang is stopped with its whole process group, a failure raised.

    The engine runs in a session of its own, so a terminal's Ctrl-C does not reach it;
    whatever stops this call (a timeout, Ctrl-C, ``stop_engines`` from another thread)
    kills the whole group, LibreOffice's soffice.bin included, before the caller's
    temporary folders are removed.
    """
    with _LOCK:
        if _STOPPING.is_set():
            raise KeyboardInterrupt   # stopping: no engine starts after Ctrl-C
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        _RUNNING.add(process)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        raise EngineMissingError(f"{title} took longer than {timeout} s and was stopped") from None
    except BaseException:
        _kill(process)
        raise
    finally:
        with _LOCK:
            _RUNNING.discard(process)
    if _STOPPING.is_set():
        raise KeyboardInterrupt
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip().splitlines()
        raise EngineMissingError(f"{title} failed (exit {process.returncode}): {message[-1] if message else 'no message'}")


def stop_engines():
    """Kill every engine this process runs, from any thread, and start no more (after Ctrl-C)."""
    with _LOCK:
        _STOPPING.set()
        running = list(_RUNNING)
    for process in running:
        _kill(process, reap=False)   # its own thread reaps it


_LOCK = threading.Lock()
_RUNNING = set()                   # engine processes now running, in any thread
_STOPPING = threading.Event()


def _kill(process, reap=True):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:   # already gone
        pass
    if reap:
        process.communicate()
