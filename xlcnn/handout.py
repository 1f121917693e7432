"""PDF handouts: a workbook printed through LibreOffice, with its own page setup."""

import mmap
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from openpyxl import load_workbook

from .atomic import write_whole
from .cells import Block, col_index, col_name
from .classroom import PAPERS, default_paper, plan_page
from .errors import OutputError, UsageError, WorkbookError, XlcnnError
from .graph import sources
from .kinds import LAYER_TYPES
from .layout import output_of, renamed, replan
from .libreoffice import DEFAULT_TIMEOUT, to_pdf
from .resources import texts as load_texts
from .targets import check_target
from .workbook.meta import META_SHEET, read_meta, sheet_titles

# The keyword every handout carries, so xlcnn knows its own PDFs: LibreOffice copies the
# workbook's keywords into the PDF's /Keywords (splitting them at spaces, hence one word).
# Any other existing PDF is left alone.
HANDOUT_KEYWORD = "xlcnn-handout"
CORE_PART = "docProps/core.xml"
CORE = "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"


def make_handout(book, output=None, timeout=DEFAULT_TIMEOUT, full=False, sheets=None, paper=None):
    """Recalculate ``book`` and print it to ``output`` (default: book.pdf).

    By default a classroom handout: every step on one page, type no smaller than 7 pt,
    long stacks and vectors shortened (the footer says what is left out; a long vector keeps
    the rows a fully connected layer's worked example uses most, each gap marked beside it), no manifest.
    ``full`` prints every visible sheet whole, fitted to the page width; ``sheets`` (step
    numbers or names) picks sheets; ``paper`` is "a4" or "letter" (default: from the locale).
    """
    [written] = make_handouts([Handout(book, output, full, sheets, paper)], timeout)
    return written


@dataclass(frozen=True)
class Handout:
    """One handout to print: make_handout's arguments, for make_handouts."""
    book: object
    output: object = None
    full: bool = False
    sheets: object = None
    paper: object = None


def make_handouts(handouts, timeout=DEFAULT_TIMEOUT):
    """Print every ``Handout`` with one LibreOffice start (a start costs seconds; a page does not).

    Every book and output is checked before LibreOffice starts; returns the PDFs' paths, in order.
    """
    jobs = []
    for handout in handouts:
        book = Path(handout.book)
        if not book.is_file():
            raise WorkbookError(f"{book}: workbook not found")
        output = Path(handout.output) if handout.output is not None else book.with_suffix(".pdf")
        check_handout_target(output)
        jobs.append((book, output, _PrintChoices(handout.full, handout.sheets, handout.paper or default_paper())))
    with tempfile.TemporaryDirectory(prefix="xlcnn-handout-") as tmp:
        (Path(tmp) / "in").mkdir()
        # LibreOffice names each PDF after its input, so each copy needs a name of its own
        names = ["handout"] if len(jobs) == 1 else [f"handout-{n + 1}" for n in range(len(jobs))]
        copies = [Path(tmp) / "in" / f"{name}.xlsx" for name in names]
        for (book, _, choices), copy in zip(jobs, copies):
            _copy_with_keyword(book, copy, choices)
        pdfs = to_pdf(copies, Path(tmp) / "out", timeout)
        for (_, output, _), pdf in zip(jobs, pdfs):
            _put(pdf, output)
    return [output for _, output, _ in jobs]


def _put(pdf, output):
    write_whole(output, lambda partial: shutil.copyfile(pdf, partial), "the handout")


def check_handout_target(output):
    """Refuse, before any work, a handout path that cannot or must not be written."""
    output = Path(output)
    if output.suffix.lower() != ".pdf":
        raise OutputError(f"-o {output}: a handout must end in .pdf")
    check_target(output, output, handout_written_by_xlcnn, "a handout")


def handout_written_by_xlcnn(path):
    """Whether ``path`` is a PDF whose /Keywords hold xlcnn's keyword."""
    try:
        with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data[:5] != b"%PDF-":
                return False
            return any(HANDOUT_KEYWORD in _pdf_text(m.group(1)) for m in _KEYWORDS.finditer(data))
    except (OSError, ValueError):   # unreadable, or empty (mmap refuses 0 bytes)
        return False


_KEYWORDS = re.compile(rb"/Keywords\s*(\((?:[^()\\]|\\.)*\)|<[0-9A-Fa-f\s]*>)")


def _pdf_text(string):
    """A PDF string object, (literal) or <hex>, as text; LibreOffice writes UTF-16 hex with a byte-order mark."""
    raw = bytes.fromhex(string[1:-1].decode("ascii")) if string.startswith(b"<") else string[1:-1]
    if raw.startswith(b"\xfe\xff"):
        return raw[2:].decode("utf-16-be", errors="replace")
    return raw.decode("latin-1")


def _copy_with_keyword(book, copy, choices=None):
    """Copy the workbook with HANDOUT_KEYWORD as its keywords, which LibreOffice passes on to the PDF,
    and, when ``choices`` are given, with the page setup of the handout asked for."""
    try:
        with zipfile.ZipFile(book) as source:
            parts = {name: source.read(name) for name in source.namelist()}
    except (zipfile.BadZipFile, OSError):
        shutil.copyfile(book, copy)   # not a zip xlcnn can read: LibreOffice says what it makes of it
        return
    try:
        if CORE_PART in parts:
            parts[CORE_PART] = _with_keyword(parts[CORE_PART])
        if choices is not None:
            _print_setup(book, parts, choices)
    except (ElementTree.ParseError, KeyError):
        pass                           # a workbook xlcnn cannot read is printed as it is
    with zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)


def _with_keyword(core_xml):
    root = ElementTree.fromstring(core_xml)
    keywords = root.find(f"{{{CORE}}}keywords")
    if keywords is None:
        keywords = ElementTree.SubElement(root, f"{{{CORE}}}keywords")
    keywords.clear()
    keywords.text = HANDOUT_KEYWORD
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


# ---------------------------------------------------------------- the handout's page setup

CHART_FONT = 9.0
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


@dataclass
class _PrintChoices:
    full: bool
    sheets: object          # None, or a list of step numbers / names
    paper: str


def _print_setup(book, parts, choices):
    """Rewrite the copy's workbook and sheet parts: which sheets print, on what paper, how."""
    workbook = parts["xl/workbook.xml"].decode("utf-8")
    sheets = _sheets(workbook, parts)
    visible = [name for name, (_, state) in sheets.items() if state in (None, "visible")]
    layout, lang = _planned_layout(book, workbook, list(sheets))
    chosen = _chosen_sheets(visible, layout, choices)
    for name in visible:
        if name not in chosen:
            workbook = _set_state(workbook, name, "hidden")
            # LibreOffice prints a hidden sheet that has a print area, so it loses its print ranges
            local = list(sheets).index(name)
            workbook = re.sub(rf'<definedName name="_xlnm\.Print_\w+" localSheetId="{local}"[^>]*>[^<]*</definedName>',
                              "", workbook)
    if not chosen:
        return
    first = list(sheets).index(chosen[0])
    workbook = re.sub(r'activeTab="\d+"', f'activeTab="{first}"', workbook)
    areas = _print_areas(workbook, list(sheets))
    plans = {plan.name: plan for plan in layout.sheets} if layout is not None else {}
    smallest = _smallest_font(parts.get("xl/styles.xml", b"").decode("utf-8"))
    notes = load_texts(lang)["print"]
    worked = _worked_rows(layout, lambda name: parts[sheets[name][0]].decode("utf-8")) if layout is not None else {}
    for name in chosen:
        part = sheets[name][0]
        xml = parts[part].decode("utf-8")
        xml = _set_paper(xml, choices.paper)
        if not choices.full and name in plans and name in areas:
            xml, last_col = _one_page(xml, plans[name], areas[name], choices.paper, smallest, notes, worked.get(name))
            if last_col is not None:
                workbook = _narrow_print_area(workbook, list(sheets).index(name), last_col)
        parts[part] = xml.encode("utf-8")
    parts["xl/workbook.xml"] = workbook.encode("utf-8")


def _narrow_print_area(workbook, local, last_col):
    pattern = re.compile(rf'(<definedName name="_xlnm\.Print_Area" localSheetId="{local}"[^>]*>[^<]*?\$)([A-Z]+)(\$\d+</definedName>)')
    return pattern.sub(lambda m: m.group(1) + col_name(last_col) + m.group(3), workbook, count=1)


def _sheets(workbook, parts):
    """{sheet name: (its part, its state)} in tab order."""
    rels = ElementTree.fromstring(parts["xl/_rels/workbook.xml.rels"])
    targets = {rel.get("Id"): rel.get("Target") for rel in rels}
    found = {}
    for element in ElementTree.fromstring(workbook).iter(f"{{{MAIN}}}sheet"):
        target = targets[element.get(f"{{{REL}}}id")]
        part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        found[element.get("name")] = (part, element.get("state"))
    return found


def _planned_layout(book, workbook, titles):
    """The layout xlcnn planned for this workbook and its language, or (None, "en") for another workbook."""
    if META_SHEET not in titles:
        return None, "en"
    try:
        wb = load_workbook(book, read_only=True)
        try:
            meta = read_meta([row[:2] for row in wb[META_SHEET].iter_rows(values_only=True)], book)
        finally:
            wb.close()
        lang = meta.get("lang", "en")
        layout = replan(meta, load_texts(lang)["step_titles"])
    except (XlcnnError, OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile):
        return None, "en"              # a damaged workbook still prints, as it is
    names = {m.group(1): ElementTree.fromstring(m.group(0)).text or ""
             for m in re.finditer(r'<definedName[^>]*name="([^"]+)"[^>]*>[^<]*</definedName>', workbook)}
    return renamed(layout, sheet_titles(layout, names, titles)), lang


def _chosen_sheets(visible, layout, choices):
    """The sheets to print, in tab order: --sheets, or everything but the manifest (all with --full)."""
    if choices.sheets:
        picked = []
        for token in choices.sheets:
            matches = [name for name in visible if _names_sheet(token, name)]
            if not matches:
                raise UsageError(f"--sheets {token!r} names no sheet; choose step numbers or names from: "
                                 f"{', '.join(visible)}")
            picked.extend(m for m in matches if m not in picked)
        return [name for name in visible if name in picked]
    if choices.full or layout is None:
        return visible
    left_out = {plan.name for plan in layout.sheets if plan.kind == "manifest"}
    return [name for name in visible if name not in left_out] or visible


def _names_sheet(token, name):
    """'3', 'conv', '3 Conv' and 'S1 3 Conv' style tokens against a tab name, ignoring case."""
    token, name = token.strip().lower(), name.lower()
    words = name.split()
    number = next((i for i, w in enumerate(words) if w.isdigit()), None)
    if token == name:
        return True
    if number is None:
        return False
    prefix, step, rest = words[:number], words[number], " ".join(words[number + 1:])
    if prefix:       # a later pass ("S1 3 Conv") is named with its prefix only
        return token == " ".join(prefix + [step]) or token == " ".join(prefix + [rest])
    return token == step or token == rest


def _set_state(workbook, name, state):
    escaped = re.escape(_xml_escape(name))
    pattern = re.compile(rf'(<sheet\b[^>]*?name="{escaped}"[^>]*?)(\s*/>)')
    def replace(match):
        head = re.sub(r'\sstate="[^"]*"', "", match.group(1))
        return f'{head} state="{state}"{match.group(2)}'
    return pattern.sub(replace, workbook, count=1)


def _xml_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&apos;")


def _print_areas(workbook, titles):
    """{sheet name: (last row, last col)} of each sheet's print area, zero-based."""
    areas = {}
    for m in re.finditer(r'<definedName[^>]*name="_xlnm.Print_Area"[^>]*localSheetId="(\d+)"[^>]*>([^<]*)<', workbook):
        text = ElementTree.fromstring(f"<a>{m.group(2)}</a>").text
        corner = re.search(r"\$?([A-Z]+)\$?(\d+)$", text)
        if corner and int(m.group(1)) < len(titles):
            areas[titles[int(m.group(1))]] = (int(corner.group(2)) - 1, col_index(corner.group(1)))
    return areas


def _smallest_font(styles):
    sizes = [float(v) for v in re.findall(r'<sz val="([\d.]+)"', styles)]
    return min(sizes, default=11.0)


def _set_paper(xml, paper):
    size = PAPERS[paper][2]
    if "<pageSetup" not in xml:
        return xml
    xml = re.sub(r'(<pageSetup\b[^>]*?)\spaperSize="\d+"', r"\1", xml)
    return xml.replace("<pageSetup", f'<pageSetup paperSize="{size}"', 1)


def _one_page(xml, plan, area, paper, smallest_font, notes, worked=None):
    """The sheet on one page at a fixed scale: long blocks shortened, the footer says what is left out.

    ``worked``: the rows of a long vector its worked example uses, most important first
    ([] when every term of that example is 0, None when the sheet has none)."""
    last_row, last_col = area
    widths = {}
    for m in re.finditer(r"<col\b([^>]*)/>", xml):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        for c in range(int(attrs["min"]) - 1, min(int(attrs["max"]), last_col + 1)):
            widths[c] = float(attrs.get("width", 8.43))
    default = re.search(r'defaultRowHeight="([\d.]+)"', xml)
    heights = {int(r) - 1: float(h) for r, h in re.findall(r'<row r="(\d+)"[^>]*?\sht="([\d.]+)"', xml)}
    if default:
        heights = {r: heights.get(r, float(default.group(1))) for r in range(last_row + 1)}
    if "<drawing " in xml:     # a chart: LibreOffice draws its text at 9 pt or more (measured), whatever the cells use
        smallest_font = min(smallest_font, CHART_FONT)
    page = plan_page(plan, widths, heights, last_row, last_col, paper, smallest_font, worked or ())
    xml = re.sub(r'<pageSetUpPr fitToPage="1"\s*/>', '<pageSetUpPr fitToPage="0"/>', xml)
    xml = re.sub(r"<rowBreaks\b.*?</rowBreaks>", "", xml, flags=re.S)
    setup = (f'<pageSetup orientation="{"landscape" if page.landscape else "portrait"}" '
             f'paperSize="{PAPERS[paper][2]}" scale="{page.scale}"/>')
    xml = re.sub(r"<pageSetup\b[^>]*/>", setup, xml, count=1)
    said = ""                              # footer codes: &L left, &R right; a literal & is &&
    if page.hidden_rows:
        hidden = {row for first, last in page.hidden_rows for row in range(first, last + 1)}
        xml = re.sub(r'<row r="(\d+)"', lambda m: m.group(0) + (' hidden="1"' if int(m.group(1)) - 1 in hidden else ""), xml)
        first, last = page.hidden_rows[0][0], page.hidden_rows[-1][1]
        if worked == [] and not _fully_connected(plan) and plan.kind != "grad":   # the vector itself is all 0
            note = notes["left_out_all_zero"].format(first=first + 1, last=last + 1)
        elif page.worked_rows:
            note = notes["left_out_but_worked"].format(first=first + 1, last=last + 1, count=len(page.worked_rows))
        else:
            note = notes["left_out"].format(first=first + 1, last=last + 1)
        said += "&L" + note.replace("&", "&&")
        if len(page.hidden_rows) > 1:   # each gap between printed rows is marked where it is
            for first, last in page.hidden_rows:
                gap = notes["gap_one" if first == last else "gap"]
                xml = _mark_gap(xml, first - 1, gap.format(first=first + 1, last=last + 1, count=last - first + 1))
    if page.columns_cut:
        first, last = (col_name(c) for c in page.columns_cut)
        cut = notes["column_left_out" if first == last else "columns_left_out"].format(first=first, last=last)
        said += "&R" + cut.replace("&", "&&")
    elif page.last_col is not None:
        said += "&R" + notes["example_left_out"].replace("&", "&&")
    if said:
        xml = xml.replace("<oddFooter>", "<oddFooter>" + _xml_escape(said), 1)
    return xml, page.last_col


# ---------------------------------------------------------------- the rows a worked example uses

# A term of a worked sum counts as 0 within this fraction of the largest term (the tie rule's margin)
TERM_MARGIN = 1e-12


def _worked_rows(layout, sheet_xml):
    """{sheet name: rows to print}: for each fully connected layer's worked example, its terms from the
    largest down (their rows on the layer's sheet, on the vector it reads, on its gradient sheet),
    read from the values the workbook stores. [] where every term is 0."""
    rows = {}
    views = [layout.pass_sheets(step) for step in range(len(layout.passes) + 1)]
    for step, view in enumerate(views):
        for plan in view:
            explain = plan.explain if _fully_connected(plan) else None
            if explain is None:
                continue
            products = explain.products
            values = _column_values(sheet_xml(plan.name), products.col, products.row, products.last_row)
            if values is None:
                continue                    # no stored values: print the first rows only
            largest = max((abs(v) for v in values), default=0.0)
            order = sorted((i for i, v in enumerate(values) if abs(v) > TERM_MARGIN * largest),
                           key=lambda i: -abs(values[i]))
            rows[plan.name] = [products.item(i).row for i in order]
            read = sources(layout.inputs, plan.layer + 1)[plan.layer][0]   # the layer it reads
            source = next((p for p in view if p.layer == read and isinstance(output_of(p), Block)), None)
            if source is not None and output_of(source).height == products.height:
                rows[source.name] = [output_of(source).item(i).row for i in order]
            gradient = layout.gradients[step].get(plan.layer) if step < len(layout.gradients) else None
            if gradient is not None:
                rows[gradient.name] = [gradient.weight.sub(i, 0, 1, 1).row for i in order]
    return rows


def _fully_connected(plan):
    """Whether ``plan`` shows a fully connected layer (a layer's sheet has its kind)."""
    kind = LAYER_TYPES.get(plan.kind)
    return kind is not None and kind.fully_connected


def _column_values(xml, col, first, last):
    """The stored numbers of column ``col``, rows ``first``..``last`` (zero-based), or None when any is missing."""
    letters = col_name(col)
    found = {}
    for m in re.finditer(rf'<c r="{letters}(\d+)"[^>]*?(?:/>|>(.*?)</c>)', xml, re.S):
        row = int(m.group(1)) - 1
        value = re.search(r"<v>([^<]*)</v>", m.group(2) or "")
        if first <= row <= last and value:
            try:
                found[row] = float(value.group(1))
            except ValueError:
                return None
    if len(found) != last - first + 1:
        return None
    return [found[row] for row in range(first, last + 1)]


def _mark_gap(xml, row, text):
    """Write ``text`` beside zero-based ``row``, two columns right of its last filled cell, in the
    printed copy only: it says which rows the page leaves out below that row."""
    line = re.search(rf'<row r="{row + 1}"[^>]*?(?:/>|>(.*?)</row>)', xml, re.S)
    if line is None or line.group(1) is None:
        return xml
    filled = [col_index(m.group(1)) for m in re.finditer(r'<c r="([A-Z]+)\d+"[^>/]*>(?!</c>)', line.group(1))]
    ref = f"{col_name(max(filled, default=-1) + 2)}{row + 1}"
    cell = f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{_xml_escape(text)}</t></is></c>'
    end = line.end(1)
    return xml[:end] + cell + xml[end:]
