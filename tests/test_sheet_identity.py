"""Sheets are found by identity (a hidden name per planned sheet), not by their titles."""

import copy
import re
import shutil
import zipfile

import openpyxl
import pytest

from books import shared_book, shared_copy
from xlcnn import make_workbook, verify_workbook, verify_workbooks
from xlcnn import verify as verify_module
from xlcnn.errors import WorkbookError
from xlcnn.resources import sample_photos, texts as load_texts
from xlcnn.workbook.meta import META_SHEET

pytestmark = pytest.mark.usefixtures("libreoffice", "gnumeric")


def _xml_text(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def rename_like_excel(path, names):
    """Rename tabs the way Excel does: the sheet name and every reference to it, in every part.

    References are rewritten in formulas of every sheet, defined names, charts,
    conditional formats and data validation (all XML text under xl/), quoted or not;
    the titles listed in docProps/app.xml follow too.
    """
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    for old, new in names.items():
        quoted_new = _xml_text("'" + new.replace("'", "''") + "'") + "!"
        forms = ["'" + old.replace("'", "''") + "'"]
        if re.fullmatch(r"[A-Za-z_][\w.]*", old):
            forms.append(old)
        pattern = re.compile(r"(?<![\w.'])(?:" + "|".join(re.escape(_xml_text(f)) for f in forms) + ")!")
        for member, data in parts.items():
            if not member.endswith(".xml") or not (member.startswith("xl/") or member == "docProps/app.xml"):
                continue
            xml = pattern.sub(lambda _: quoted_new, data.decode("utf-8"))
            if member == "xl/workbook.xml":
                xml, n = re.subn(rf'(<sheet\b[^>]*\bname="){re.escape(_xml_text(old))}"',
                                 lambda m: m.group(1) + _xml_text(new).replace('"', "&quot;") + '"', xml)
                assert n == 1, old
            if member == "docProps/app.xml":
                xml = xml.replace(f"<vt:lpstr>{_xml_text(old)}</vt:lpstr>", f"<vt:lpstr>{_xml_text(new)}</vt:lpstr>")
            parts[member] = xml.encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for member, data in parts.items():
            z.writestr(member, data)


def _new_names(path, mark=""):
    """A new title for every visible tab: spaces, an en dash, an umlaut, Chinese (and ``mark``)."""
    titles = [t for t in openpyxl.load_workbook(path, read_only=True).sheetnames if t != META_SHEET]
    return {title: f"Blatt {n} – Größe{mark} 表" for n, title in enumerate(titles, start=1)}


RENAMINGS = {"": "all", "'s": "libreoffice"}   # a mark in every new title, and the engines that verify it


@pytest.fixture(scope="module")
def verified(tmp_path_factory):
    """{mark: (path, new names, reports)}: workbooks with every tab renamed, and "old": (path, its LibreOffice
    report) of the default book without its sheet ids; one start of each engine for all."""
    folder = tmp_path_factory.mktemp("renamed")
    books = {}
    for n, mark in enumerate(RENAMINGS):
        path = shared_copy(tmp_path_factory, folder / f"renamed{n}.xlsx", steps=1, exercise=True)
        names = _new_names(path, mark)
        rename_like_excel(path, names)
        books[mark] = (path, names)
    books["old"] = (shared_copy(tmp_path_factory, folder / "old.xlsx"), None)
    _strip_sheet_ids(books["old"][0])
    verified_in = {**RENAMINGS, "old": "libreoffice"}
    reports = {mark: [] for mark in verified_in}
    for engine in ("libreoffice", "gnumeric"):
        marks = [mark for mark, engines in verified_in.items() if engines in (engine, "all")]
        for mark, report in zip(marks, verify_workbooks([books[mark][0] for mark in marks], engine=engine)):
            reports[mark].append(report)
    return {**{mark: (*books[mark], reports[mark]) for mark in RENAMINGS}, "old": (books["old"][0], *reports["old"])}


@pytest.mark.parametrize("mark", RENAMINGS)
def test_a_workbook_with_every_tab_renamed_still_verifies(verified, mark):
    """Gnumeric 1.12.55 cannot read a reference to a sheet whose name holds an apostrophe
    ('Tom''s'!A1 stays text), so that spelling is checked in LibreOffice only."""
    path, names, reports = verified[mark]
    sheets = openpyxl.load_workbook(path, read_only=True).sheetnames
    assert "3 Conv" not in sheets and names["3 Conv"] in sheets
    assert len(reports) == (2 if RENAMINGS[mark] == "all" else 1)
    for report in reports:
        assert report.ok, report.table()
        assert {c.stage for c in report.checks} >= {names["3 Conv"], names["Grad 3 Conv"], "loss", "prediction"}
        assert all(c.worst_cell.startswith("'Blatt ") for c in report.checks), report.table()


def test_a_renamed_reference_left_behind_would_be_caught(tmp_path, tmp_path_factory):
    """Renaming only the tab, leaving the references (as no spreadsheet does), is not accepted."""
    path = shared_copy(tmp_path_factory, tmp_path / "half.xlsx")
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b'name="3 Conv"', b'name="Faltung"')
    with zipfile.ZipFile(path, "w") as z:
        for member, data in parts.items():
            z.writestr(member, data)
    with pytest.raises(WorkbookError, match="sheet '3 Conv' is missing"):
        verify_workbook(path)


def _strip_sheet_ids(path):
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    xml, n = re.subn(rb'<definedName name="_xlcnn_sheet_\d+"[^>]*>[^<]*</definedName>', b"", parts["xl/workbook.xml"])
    assert n > 10
    parts["xl/workbook.xml"] = xml
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for member, data in parts.items():
            z.writestr(member, data)


def test_workbooks_without_sheet_ids_verify_by_name(verified, tmp_path):
    """Workbooks written before the hidden names still verify, by their planned titles."""
    old, report = verified["old"]
    assert report.ok, report.table()
    path = shutil.copyfile(old, tmp_path / "old.xlsx")
    rename_like_excel(path, {"3 Conv": "Faltung"})      # ...and without the names a renamed tab is lost
    with pytest.raises(WorkbookError, match="sheet '3 Conv' is missing"):
        verify_workbook(path)


def test_changed_texts_do_not_lose_the_sheets(tmp_path, tmp_path_factory, monkeypatch):
    """A later xlcnn whose sheet titles changed still verifies a workbook written before."""
    paths = [shared_book(tmp_path_factory, steps=1),
             make_workbook(sample_photos()[1], tmp_path / "zh.xlsx", lang="zh").path]

    def new_texts(lang):
        changed = copy.deepcopy(load_texts(lang))
        changed["step_titles"] = {key: f"{value} (new)" for key, value in changed["step_titles"].items()}
        return changed
    monkeypatch.setattr(verify_module, "load_texts", new_texts)
    for report in verify_workbooks(paths):
        assert report.ok, report.table()
        assert any(c.stage == "3 Conv" for c in report.checks) or report.path.name == "zh.xlsx"
