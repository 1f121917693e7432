"""Chinese as good as English: the same texts, the same placeholders, the same lesson."""

import json
import re
import string

import pytest
from click.testing import CliRunner

from some_sheets import sheet_rows
from xlcnn.cli import _confusion_table, main
from xlcnn.pipeline import make_workbook
from xlcnn.presets import load_preset, preset_names
from xlcnn.resources import resource_dir
from xlcnn.textwidth import display_width, wrap

TEXTS = resource_dir("templates") / "texts"
# names of the model's classes in the workbook's language: English keeps the model's own names
TRANSLATION_TABLES = ("class_names",)
CJK = re.compile(r"[\u4e00-\u9fff]")
FULL_WIDTH_PUNCTUATION = "（）：，。；、“”——"


def flatten(value, path=""):
    """{"sheets.input.lines[0]": text, ...}: every text of a language file by its place."""
    if isinstance(value, dict):
        return {key: text for k, v in value.items() for key, text in flatten(v, f"{path}.{k}" if path else k).items()}
    if isinstance(value, list):
        return {key: text for n, v in enumerate(value) for key, text in flatten(v, f"{path}[{n}]").items()}
    return {path: value}


def language(lang):
    raw = json.loads((TEXTS / f"{lang}.json").read_text(encoding="utf-8"))
    return flatten({key: value for key, value in raw.items() if key not in TRANSLATION_TABLES})


def placeholders(text):
    return sorted(field for _, field, _, _ in string.Formatter().parse(text) if field is not None)


def test_the_two_languages_have_the_same_keys():
    en, zh = language("en"), language("zh")
    assert sorted(en) == sorted(zh)


# The one text whose placeholders differ on purpose: an English summary row starts with the layer's
# --until name ("conv1: ..."), a Chinese one with its number ("第 1 层：...") rather than an English word.
DIFFERENT_PLACEHOLDERS = {"sheets.summary.row_name": (["description", "id"], ["description", "number"])}


def test_every_text_has_the_same_placeholders_in_both_languages():
    en, zh = language("en"), language("zh")
    differ = {key: (placeholders(en[key]), placeholders(zh[key])) for key in en
              if placeholders(en[key]) != placeholders(zh.get(key, ""))}
    assert differ == DIFFERENT_PLACEHOLDERS


# The course's detective story (magnifying glasses, clues, votes) is told in both languages,
# and no other picture in only one of them.
ANALOGIES = [("magnifying", "放大镜"), ("clue", "线索"), ("vote", "票"), ("detective", "侦探"), ("attic", "阁楼"),
             ("cordon", "警戒线"), ("jury", "陪审"), ("evidence", "证据")]


@pytest.mark.parametrize("english, chinese", ANALOGIES)
def test_the_same_analogies_in_both_languages(english, chinese):
    en, zh = language("en"), language("zh")
    in_en = {key for key, text in en.items() if english in text.lower()}
    in_zh = {key for key, text in zh.items() if chinese in text}
    assert in_en == in_zh


def test_every_bundled_preset_is_described_in_chinese():
    for name in preset_names() + preset_names(tables=True):
        english, chinese = load_preset(name).description, load_preset(name, "zh").description
        assert english and CJK.search(chinese) and not CJK.search(english), name


def test_presets_lists_chinese_descriptions():
    result = CliRunner().invoke(main, ["presets", "--lang", "zh"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    blocks = re.split(r"^(?! {4}).*$", result.output, flags=re.M)
    described = [block for block in blocks if block.strip()]
    assert len(described) == len(preset_names() + preset_names(tables=True))   # one paragraph under each name
    assert all(CJK.search(block) for block in described)
    assert max(display_width(line) for line in lines if line.startswith("    ")) <= 88


def test_a_teachers_preset_without_a_translation_shows_its_description(tmp_path, monkeypatch):
    from xlcnn import presets
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "mine.json").write_text(json.dumps({"architecture": "conv3x3x2,relu", "description": "my lesson"}))
    monkeypatch.setattr(presets, "resource_dir", lambda name: tmp_path)
    assert presets.load_preset("mine", "zh").description == "my lesson"


@pytest.fixture(scope="module")
def chinese_backprop_book(tmp_path_factory):
    """{title: (sheet state, rows of cell values from row 1)}: the tests read values only, so each sheet is read
    in one read-only pass (under two thirds of a full load's time)."""
    path = make_workbook(output=tmp_path_factory.mktemp("zh") / "zh.xlsx", lang="zh", size=10, steps=1).path
    return sheet_rows(path)


def test_no_stray_space_beside_chinese_punctuation(chinese_backprop_book):
    stray = [(title, value) for title, (state, rows) in chinese_backprop_book.items() if state == "visible"
             for row in rows for value in row
             if isinstance(value, str) and not value.startswith("=")
             and re.search(f"[{FULL_WIDTH_PUNCTUATION}] | [{FULL_WIDTH_PUNCTUATION}]", value)]
    assert stray == []


def test_one_step_numbering_on_every_sheet(chinese_backprop_book):
    """A later pass's tab says which descent round it follows in other words than its step title."""
    for title, (_, rows) in chinese_backprop_book.items():
        first = rows[0][0] if rows and rows[0] else None      # A1
        words = f"{title} {first or ''}"
        steps = set(re.findall(r"第\s*(\d+)\s*步", words))
        assert len(steps) <= 1, words


def test_confusion_matrix_columns_line_up_with_chinese_names():
    table = _confusion_table([[5, 1, 0], [0, 7, 2], [1, 0, 19]], ["圆形", "正方形", "triangle"]).splitlines()[1:]
    assert len({display_width(line) for line in table}) == 1
    ends = [[m.end() for m in re.finditer(r"\S+", line)] for line in table]
    columns = [[display_width(line[:end]) for end in found][-3:] for line, found in zip(table, ends)]
    assert all(found == columns[0] for found in columns)


@pytest.mark.parametrize("text, width, expected", [
    ("a bc def", 5, ["a bc", "def"]),
    ("一二三四五", 4, ["一二", "三四", "五"]),
    ("ReLU 只保留", 8, ["ReLU 只", "保留"]),
])
def test_wrap_by_display_width(text, width, expected):
    assert wrap(text, width) == expected
