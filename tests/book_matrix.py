"""A matrix of workbooks covering every kind of sheet xlcnn writes, built once per test session.

Used by the tests that look at the files as a whole (schema validity, the functions the
formulas use). Small sizes keep it to a few seconds; what matters is that every sheet
writer, every layer kind, both languages, the exercises and the descent steps appear.
"""

from books import shared_books
from xlcnn.presets import preset_names

MATRIX = {
    "default": {},
    "backprop": {"steps": 1, "size": 12},
    "exercise": {"exercise": True, "size": 12},
    "zh": {"lang": "zh", "steps": 1, "size": 12},
    "steps-2": {"steps": 2, "size": 12},
    "grayscale": {"grayscale": True, "size": 12},
    # every activation and pooling kind, a dilated and a turned kernel, hidden dense layers, with gradients
    "kinds": {"arch": "conv3x3x2-same,leakyrelu,avgpool2,conv3x3x2-p2-d2-flip,sigmoid,maxpool2,tanh,dense",
              "steps": 1, "size": 12},
    "im2col": {"arch": "conv3x3x2-s2-p1,relu,dense", "im2col": True, "size": 9},
    "hidden-dense": {"arch": "conv3x3x2-s2,sigmoid,flatten,dense5,leakyrelu0.1,dense", "size": 12},
    # batch norm: its sheet, its gradient sheet and the fold of it into a convolution and a dense layer
    "bn": {"arch": "conv3x3x2,bn,relu,maxpool2,flatten,dense", "steps": 1, "fold_bn": True, "size": 10},
    "bn-vector": {"arch": "conv3x3x2-s2,relu,flatten,dense4,bn,relu,dense", "fold_bn": True, "lang": "zh", "size": 9},
    "lenet-like-zh-exercise": {"preset": "lenet-like", "size": 16, "lang": "zh", "exercise": True},
    **{f"preset-{name}": {"preset": name, "size": 16} for name in preset_names()},
}

def matrix_books(tmp_path_factory):
    """{name: path} of every workbook in MATRIX, built once per run (read-only; see ``books.shared_books``).

    Parallel workers (pytest-xdist) share the builds: each builds the books no other is building.
    """
    return shared_books(tmp_path_factory, MATRIX)
