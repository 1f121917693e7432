"""Recalculate workbooks in LibreOffice headless, for real.

LibreOffice's default for .xlsx files is to show stored values instead of
recalculating, so every run gets a fresh private profile whose settings force a
full recalculation on load and switch macros off. One start converts many files.
"""

import glob
import os
import shutil
import tempfile
from pathlib import Path

from .engines import DEFAULT_TIMEOUT, Engine, run
from .errors import EngineMissingError

# 0 = "always recalculate" for both OOXML (.xlsx) and ODF files; macros never run.
_PROFILE_SETTINGS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
{extra}</oor:items>
"""
# CSV numbers follow the locale: a German one writes "0,33", which a comma-separated file cannot hold.
_POINT_DECIMALS = """<item oor:path="/org.openoffice.Setup/L10N"><prop oor:name="ooSetupSystemLocale" oor:op="fuse"><value>en-US</value></prop></item>
"""

# Every sheet to its own UTF-8 CSV file, values at full precision (not "as shown"), no formulas.
# Tokens: separator 44 (,), text quote 34 ("), charset 76 (UTF-8), first line 1, cell formats
# (none), language 0, quote all text false, detect special numbers true, save as shown false,
# export formulas false, remove spaces false, sheet -1 = each sheet its own file (LibreOffice 7.2+).
CSV_EVERY_SHEET = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"

INSTALL_HINT = "install it with: apt-get install libreoffice-calc-nogui"


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
    # in the locale verify compares with: a German LibreOffice's FIXED would write "0,50" where xlcnn stored "0.50"
    return convert(paths, out_dir, "xlsx:Calc MS Excel 2007 XML", ".xlsx", timeout, settings=_POINT_DECIMALS)


def recalculate_to_csv(paths, out_dir, timeout=DEFAULT_TIMEOUT):
    """Recalculate each workbook and write every sheet's values as CSV: "<stem>-<sheet>.csv".

    Much quicker than saving an .xlsx again (no formulas, styles or zip to write) and
    quicker to read back. Returns, per workbook, {sheet name: CSV path}; or None when
    this LibreOffice is older than 7.2 and wrote only the first sheet of each.
    """
    out_dir = Path(out_dir)
    _convert(paths, out_dir, CSV_EVERY_SHEET, timeout, settings=_POINT_DECIMALS)
    results = []
    for path in paths:
        prefix = f"{Path(path).stem}-"
        files = {file.name[len(prefix):-len(".csv")]: file for file in out_dir.glob(f"{glob.escape(prefix)}*.csv")}
        if not files:
            if (out_dir / f"{Path(path).stem}.csv").exists():
                return None
            raise EngineMissingError(f"LibreOffice did not recalculate {Path(path).name}; is the workbook readable?")
        results.append(files)
    return results


def to_pdf(paths, out_dir, timeout=DEFAULT_TIMEOUT):
    """Recalculate each workbook and print it to PDF (every visible sheet, its own page setup)."""
    return convert(paths, out_dir, "pdf:calc_pdf_Export", ".pdf", timeout)


def convert(paths, out_dir, target, suffix, timeout=DEFAULT_TIMEOUT, settings=""):
    """One LibreOffice start converting every file to ``target``; returns the new files' paths."""
    out_dir = Path(out_dir)
    _convert(paths, out_dir, target, timeout, settings)
    results = [out_dir / (Path(p).stem + suffix) for p in paths]
    missing = [str(p) for p in results if not p.exists()]
    if missing:
        raise EngineMissingError(f"LibreOffice did not produce {', '.join(missing)}; is the workbook readable?")
    return results


def _convert(paths, out_dir, target, timeout, settings=""):
    soffice = find_soffice()
    if soffice is None:
        raise EngineMissingError(f"LibreOffice is needed to recalculate the workbook; {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="xlcnn-lo-profile-") as profile:
        user = Path(profile) / "user"
        user.mkdir()
        (user / "registrymodifications.xcu").write_text(_PROFILE_SETTINGS.format(extra=settings), encoding="utf-8")
        command = [
            soffice, f"-env:UserInstallation={Path(profile).as_uri()}",
            "--headless", "--invisible", "--nologo", "--norestore", "--nolockcheck", "--nodefault",
            "--convert-to", target, "--outdir", str(out_dir),
            *[str(Path(p).resolve()) for p in paths],
        ]
        scratch = Path(profile) / "tmp"   # its own temporary files too, gone with the profile even when it is killed
        scratch.mkdir()
        run(command, timeout, {**os.environ, "HOME": profile, "TMPDIR": str(scratch)}, "LibreOffice")


# Its CSV rounds numbers between 1e-14 and 1e-5 to 20 decimals ("0.00000000000012345679"),
# others to 15 significant digits; an .xlsx copy keeps 15 significant digits throughout.
ENGINE = Engine("libreoffice", "LibreOffice", recalculate_to_csv, recalculate, csv_step=1e-20, csv_from_a1=True,
                install_hint=INSTALL_HINT)
