"""Recalculate workbooks in LibreOffice headless, for real.

LibreOffice's default for .xlsx files is to show stored values instead of
recalculating, so every run gets a fresh private profile whose settings force a
full recalculation on load and switch macros off. One start converts many files.
"""

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from .errors import EngineMissingError

# 0 = "always recalculate" for both OOXML (.xlsx) and ODF files; macros never run.
_PROFILE_SETTINGS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
</oor:items>
"""

INSTALL_HINT = "install it with: apt-get install libreoffice-calc-nogui"
DEFAULT_TIMEOUT = 600


def find_soffice():
    """The LibreOffice executable, or None."""
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    for candidate in ("/usr/lib/libreoffice/program/soffice", "/opt/libreoffice/program/soffice",
                      "/Applications/LibreOffice.app/Contents/MacOS/soffice"):
        if os.path.exists(candidate):
            return candidate
    return None


def recalculate(paths, out_dir, timeout=DEFAULT_TIMEOUT):
    """Open each .xlsx in LibreOffice, recalculate every formula, save a copy in ``out_dir``.

    Returns the paths of the recalculated copies, in the order given.
    """
    return convert(paths, out_dir, "xlsx:Calc MS Excel 2007 XML", ".xlsx", timeout)


def to_pdf(paths, out_dir, timeout=DEFAULT_TIMEOUT):
    """Recalculate each workbook and print it to PDF (every visible sheet, its own page setup)."""
    return convert(paths, out_dir, "pdf:calc_pdf_Export", ".pdf", timeout)


def convert(paths, out_dir, target, suffix, timeout=DEFAULT_TIMEOUT):
    """One LibreOffice start converting every file to ``target``; returns the new files' paths."""
    soffice = find_soffice()
    if soffice is None:
        raise EngineMissingError(f"LibreOffice is needed to recalculate the workbook; {INSTALL_HINT}")
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="xlcnn-lo-profile-") as profile:
        user = Path(profile) / "user"
        user.mkdir()
        (user / "registrymodifications.xcu").write_text(_PROFILE_SETTINGS, encoding="utf-8")
        command = [
            soffice, f"-env:UserInstallation={Path(profile).as_uri()}",
            "--headless", "--invisible", "--nologo", "--norestore", "--nolockcheck", "--nodefault",
            "--convert-to", target, "--outdir", str(out_dir),
            *[str(Path(p).resolve()) for p in paths],
        ]
        _run(command, timeout, env={**os.environ, "HOME": profile})
    results = [out_dir / (Path(p).stem + suffix) for p in paths]
    missing = [str(p) for p in results if not p.exists()]
    if missing:
        raise EngineMissingError(f"LibreOffice did not produce {', '.join(missing)}; is the workbook readable?")
    return results


def _run(command, timeout, env):
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise EngineMissingError(f"LibreOffice took longer than {timeout} s and was stopped") from None
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip().splitlines()
        raise EngineMissingError(f"LibreOffice failed (exit {process.returncode}): {message[-1] if message else 'no message'}")
