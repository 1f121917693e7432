"""The column widths' arithmetic (printing.fit_widths) against plain references kept here.

The fast forms find the same extremes and widths as the obvious loops: a number format is read
once, -0.0 is found among zeros by builtins, a text's width is summed without a frame per character.
"""

import math
import random

import pytest

from xlcnn.workbook.printing import NARROW, _extremes, shown, shown_width


def naive_extremes(values):
    """[largest, smallest, largest magnitude, smallest magnitude not 0]; of equal values the first,
    except that a later negative one is the smallest (-0.0 shows as "-0.00")."""
    smallest = min(values)
    if smallest <= 0:
        smallest = next((v for v in reversed(values) if v == smallest and math.copysign(1.0, v) < 0), smallest)
    return [max(values), smallest, max(values, key=abs), min(filter(None, values), key=abs, default=values[0])]


FORMATS = [None, "0", "0.00", "0.000", "0.0000", "#,##0", "0.0%", "0.00E+0", "0.00E+0;-0.00E+0;0", "# ?/???"]


def _numbers(rng, count):
    pool = [0, 0.0, -0.0, 1, -1, 2.5, -2.5, 1e-5, -3e-7, 255, 73008.5, 0.125]
    return [rng.choice(pool) if rng.random() < 0.5 else rng.uniform(-3, 3) for _ in range(count)]


@pytest.mark.parametrize("seed", range(50))
def test_extremes_are_the_plain_loops_texts(seed):
    rng = random.Random(seed)
    values = _numbers(rng, rng.randint(1, 12))
    for number_format in FORMATS:
        fast = [shown(v, number_format) for v in _extremes(values)]
        plain = [shown(v, number_format) for v in naive_extremes(values)]
        assert fast == plain, (values, number_format)


@pytest.mark.parametrize("values, smallest", [
    ([0.0, -0.0, 1.0], "-0.00"), ([0, 0.0, 2], "0.00"), ([-0.0, 0.0], "-0.00"), ([0, -0.0], "-0.00"),
    ([3.0, -1.0, -0.0, -1.0], "-1.00"),
])
def test_a_negative_zero_is_the_smallest_where_the_smallest_is_zero(values, smallest):
    assert shown(_extremes(values)[1], "0.00") == smallest


def test_shown_width_is_the_sum_of_its_characters():
    for text in ["-0.67", "73,008", "1.23E-4", "50.0%", "", "# ?/???", "1/255"]:
        assert shown_width(text) == sum(NARROW.get(ch, 1.0) for ch in text)
