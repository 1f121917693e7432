"""Every layer's output has a workbook-level name (Name Box, checks): conv1_1 ... conv1_K, relu1_1,
pool1_1, flatten1, dense1, numbered by kind in network order as --until names the layers."""

import numpy as np
import openpyxl

from named import named_values
from xlcnn import make_workbook
from xlcnn.cells import looks_like_a_cell
from xlcnn.engine import forward
from xlcnn.image import load_image
from xlcnn.libreoffice import recalculate
from xlcnn.options import BuildOptions
from xlcnn.pipeline import choose_model
from xlcnn.resources import default_sample

ARCH = "conv3x3x2-p1,relu,maxpool2,conv3x3x3,tanh,flatten,dense4,sigmoid,dense"
SIZE = 10


def test_every_output_is_named_and_recalculates_to_the_engine(tmp_path, libreoffice):
    book = make_workbook(output=tmp_path / "n.xlsx", arch=ARCH, size=SIZE).path
    model = choose_model(BuildOptions(arch=ARCH, size=SIZE)).model
    stages = forward(model, load_image(default_sample(), size=SIZE)).stages
    wb = openpyxl.load_workbook(recalculate([book], tmp_path / "out")[0], data_only=True)
    expected = {"conv1": 0, "relu1": 1, "pool1": 2, "conv2": 3, "tanh1": 4}
    for name, index in expected.items():
        maps = stages[index].output
        for c in range(maps.shape[0]):     # interior only: conv1 reads a padded input, its maps have no border
            np.testing.assert_allclose(named_values(wb, f"{name}_{c + 1}"), maps[c], rtol=1e-12, atol=1e-12)
        assert f"{name}_{maps.shape[0] + 1}" not in wb.defined_names
    for name, index in {"flatten1": 5, "dense1": 6, "sigmoid1": 7, "dense2": 8}.items():
        np.testing.assert_allclose(named_values(wb, name).ravel(), stages[index].output, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(named_values(wb, "dense2"), named_values(wb, "logits").T)
    assert {"logits", "probabilities", "loss", "total_parameters"} <= set(wb.defined_names)


def test_no_name_reads_as_a_cell():
    assert [name for name in ("add1", "XFD1048576", "ABC12") if looks_like_a_cell(name)] == [
        "add1", "XFD1048576", "ABC12"]
    assert not any(looks_like_a_cell(name) for name in ("conv1_1", "dense1", "XFE1", "add0", "flatten1", "relu1"))
