"""The explanations read right for one channel: a grey photo is one matrix, a one-channel filter one slice."""

import re

import pytest

from xlcnn.pipeline import make_workbook
from xlcnn.xlsxread import read_workbook

# a grey photo, and a one-filter conv feeding a conv and the flatten: every place a channel count is spoken of
ONE_CHANNEL = "conv3x3x1,relu,conv3x3x2,relu,conv3x3x1,maxpool2,dense"


def sheet_texts(path):
    """{sheet title: [text of every non-formula string cell]}, read with xlcnn's one-pass reader (as openpyxl reads
    them, test_xlsxread, in under half its time)."""
    return {title: [value for row in rows for value in row if isinstance(value, str) and not value.startswith("=")]
            for title, rows in read_workbook(path).formulas.items()}


def texts_of(tmp_path, **options):
    return sheet_texts(make_workbook(output=tmp_path / "book.xlsx", size=12, **options).path)


def joined(texts, prefix):
    """All texts of the sheets whose title starts with ``prefix`` (e.g. "1 " for the input sheet)."""
    return "\n".join(t for title, found in texts.items() if title.startswith(prefix) for t in found)


def test_a_grey_photo_is_one_matrix_with_one_slice_per_filter(tmp_path):
    texts = texts_of(tmp_path, grayscale=True, arch=ONE_CHANNEL)
    everything = "\n".join(t for found in texts.values() for t in found)
    assert "reads 1 matrix of 12 x 12 = 144 numbers." in joined(texts, "1 ")
    assert "three grids" not in everything and "red, green and blue" not in everything
    assert not re.search(r"\b1 (matrices|slices|maps|channels)\b|\(1 slices\)", everything), everything
    assert "a single slice, for the one input channel" in joined(texts, "2 ")
    first_conv, second_conv = joined(texts, "3 "), joined(texts, "6 ")   # conv 1 reads the photo, conv 2 one map
    assert "over the one input channel" in first_conv and "sum over channels" not in first_conv
    assert "over the one input channel" in second_conv and "sum over channels" not in second_conv
    assert "sum over channels" in joined(texts, "9 ")   # conv 3 reads two maps
    assert "The one map of 3 x 3 becomes one column of 9 numbers" in everything


def test_a_colour_photo_still_has_three_matrices(tmp_path):
    texts = texts_of(tmp_path)
    assert "reads 3 matrices of 12 x 12 = 144 numbers each." in joined(texts, "1 ")
    assert "(3 slices)" in joined(texts, "2 ")
    assert "sum over channels" in joined(texts, "3 ")


@pytest.mark.parametrize("grayscale, matrices", [(True, "1 个矩阵"), (False, "3 个矩阵")])
def test_chinese_counts_follow_the_channels(tmp_path, grayscale, matrices):
    texts = texts_of(tmp_path, grayscale=grayscale, lang="zh")
    everything = "\n".join(t for found in texts.values() for t in found)
    assert matrices in everything
    assert ("共 1 层" in everything) is False
    assert ("各通道" in everything) is not grayscale
    assert ("灰度照片" in everything) is grayscale
