"""`xlcnn summary`: the tables of real networks, as text and as a workbook of live formulas.

The published totals (LeNet-5 61,706 parameters, AlexNet single-tower 62,378,344, VGG-16
138,357,544, ResNet-18 11,689,512 as PyTorch counts it) must come out of LibreOffice's
recalculation, read through the named totals.
"""

import openpyxl
import pytest
from click.testing import CliRunner

from named import named_values
from xlcnn import verify_workbooks
from xlcnn.cli import main
from xlcnn.libreoffice import recalculate
from xlcnn.pipeline import make_summary

PUBLISHED = {"lenet5": 61_706, "alexnet": 62_378_344, "vgg16": 138_357_544, "resnet18": 11_689_512}


def _total(rows, key):
    return sum(row.numbers().get(key, 0) for row in rows)


@pytest.mark.parametrize("preset, parameters", PUBLISHED.items())
def test_presets_count_the_published_parameters(preset, parameters):
    assert _total(make_summary(preset).rows, "parameters") == parameters


def test_vgg16_layer_by_layer():
    rows = {row.name: row for row in make_summary("vgg16").rows}
    first = rows["conv1"].numbers()
    assert (first["weights"], first["biases"], first["activations"]) == (1_728, 64, 3_211_264)
    assert first["multiply-adds"] == 224 * 224 * 64 * 27
    assert first["forward memory"] == 4 * 3_211_264 and first["training memory"] == 8 * 3_211_264
    assert rows["dense1"].numbers()["weights"] == 25_088 * 4_096
    assert rows["dense1"].numbers()["with Adam"] == 12 * (25_088 * 4_096 + 4_096)
    assert rows["pool5"].output_shape == (512, 7, 7) and rows["pool5"].numbers()["receptive field"] == 212
    assert all(row.whole for row in rows.values())


def test_resnet18_layer_by_layer():
    """Batch norm's gamma and beta are parameters, its running statistics buffers (said under the table);
    the convolutions have no biases; the multiply-adds are the usual 1.8 billion (convolutions and the
    fully connected layer), plus one a cell for each batch norm."""
    rows = make_summary("resnet18").rows
    named = {row.name: row.numbers() for row in rows}
    assert (named["conv1"]["weights"], named["conv1"]["biases"]) == (7 * 7 * 3 * 64, 0)
    assert (named["bn1"]["weights"], named["bn1"]["biases"], named["bn1"]["parameters"]) == (64, 64, 128)
    assert named["bn1"]["multiply-adds"] == 64 * 112 * 112 and rows[2].buffers == 128
    assert named["conv8"]["weights"] == 64 * 128 and rows[-1].output_shape == (1000,)   # the first 1 x 1 shortcut
    products = sum(named[row.name]["multiply-adds"] for row in rows if not row.buffers)
    assert products == 1_814_073_344
    run = CliRunner().invoke(main, ["summary", "--preset", "resnet18"])
    assert run.exit_code == 0 and "11,689,512" in run.output and "Buffers: 9,600 numbers" in run.output


def test_group_depthwise_and_transposed_rows():
    """A grouped conv layer costs 1/G of a plain one's weights and multiply-adds; depthwise then pointwise
    (MobileNet's pair) against one plain 3 x 3; a transposed one shows its own size arithmetic."""
    def rows(arch, size=16):
        return {row.name: row for row in make_summary(arch=arch, size=size, channels=8).rows}
    plain, grouped = rows("conv3x3x16-p1,dense")["conv1"], rows("conv3x3x16-p1-g4,dense")["conv1"]
    assert grouped.numbers()["weights"] * 4 == plain.numbers()["weights"] == 3 * 3 * 8 * 16
    assert grouped.numbers()["multiply-adds"] * 4 == plain.numbers()["multiply-adds"] == 16 * 16 * 16 * 72
    pair = rows("conv3x3x8-dw-p1-nobias,conv1x1x16-nobias,dense")
    assert pair["conv1"].numbers()["weights"] + pair["conv2"].numbers()["weights"] == 3 * 3 * 8 + 8 * 16
    up = rows("tconv3x3x4-s2-p1,dense", size=3)["tconv1"]
    assert up.output_shape == (4, 5, 5) and up.arithmetic == "(3 - 1) x 2 - 2x1 + 3 = 5"
    assert up.side == ("=(3-1)*2-2*1+3", 5) and up.numbers()["parameters"] == 3 * 3 * 8 * 4 + 4
    assert up.numbers()["multiply-adds"] == 8 * 3 * 3 * 3 * 3 * 4


def test_a_quotient_that_is_not_whole_is_shown_and_marked(tmp_path):
    """AlexNet on 224 pixels: (224 - 11) / 4 = 53.25, the course's example of an invalid setting."""
    result = make_summary("alexnet", size=224, output=tmp_path / "a.xlsx")
    conv1 = result.rows[1]
    assert not conv1.whole and "53.25" in conv1.arithmetic and conv1.output_shape == (96, 54, 54)
    assert make_summary("alexnet").rows[1].whole          # 227 is why the paper's input works
    ws = openpyxl.load_workbook(result.path)["Summary"]
    marked = [cell for row in ws.iter_rows() for cell in row if isinstance(cell.value, str) and "53.25" in cell.value]
    assert len(marked) == 1 and marked[0].fill.fgColor.rgb.endswith("F8CBAD")
    assert "not whole" in marked[0].value


def test_the_workbook_recalculates_to_the_published_totals(tmp_path, libreoffice):
    networks = {**{name: {"preset": name} for name in PUBLISHED},
                "branch": {"arch": "a=conv3x3x4-p1, b=conv1x1x4(input), add(a,b), relu, dense", "size": 12}}
    results = {name: make_summary(**changes, output=tmp_path / f"{name}.xlsx") for name, changes in networks.items()}
    copies = recalculate([result.path for result in results.values()], tmp_path / "out")   # one LibreOffice start
    for (name, result), copy in zip(results.items(), copies):
        wb = openpyxl.load_workbook(copy, data_only=True)
        assert _total_named(wb, "total_parameters") == PUBLISHED.get(name, _total(result.rows, "parameters"))
        assert _total_named(wb, "total_activations") == _total(result.rows, "activations")
        assert _total_named(wb, "total_multiply_adds") == _total(result.rows, "multiply-adds")
        cached = openpyxl.load_workbook(result.path, data_only=True)   # right even where nothing recalculates
        assert _total_named(cached, "total_parameters") == _total_named(wb, "total_parameters")


def test_verify_checks_a_table_and_catches_a_tampered_cell(tmp_path, libreoffice):
    good = make_summary("lenet5", output=tmp_path / "good.xlsx").path
    wb = openpyxl.load_workbook(good)
    ws = wb["Summary"]
    weights = next(cell for cell in ws[10] if cell.value == "weights").column_letter
    ws[f"{weights}12"] = "=6*5*5*2"     # conv1's weights as if it read two channels
    wb.save(tmp_path / "bad.xlsx")
    ok, bad = verify_workbooks([good, tmp_path / "bad.xlsx"])
    assert ok.ok, ok.table()
    assert not bad.ok and "Summary" in bad.table()


def test_cli_prints_the_table_and_writes_the_book(tmp_path):
    run = CliRunner().invoke(main, ["summary", "--preset", "lenet5", "-o", str(tmp_path / "l.xlsx")])
    assert run.exit_code == 0, run.output
    assert "61,706" in run.output and "conv2" in run.output and (tmp_path / "l.xlsx").is_file()
    zh = CliRunner().invoke(main, ["summary", "--arch", "conv3x3x8,relu,maxpool2,dense", "--size", "32",
                                   "--channels", "1", "--classes", "10", "--lang", "zh"])
    # 3*3*1*8 + 8 = 80; pooled 15 x 15 x 8 = 1,800 inputs x 10 + 10 = 18,010
    assert zh.exit_code == 0 and "合计" in zh.output and f"{80 + 18_010:,}" in zh.output, zh.output


@pytest.mark.parametrize("args, words", [
    (["summary", "--preset", "vgg17"], "no such preset"),
    (["summary", "--arch", "conv3x3x4,blur"], "blur"),
    (["summary", "--preset", "vgg16", "-o", "table.csv"], ".xlsx"),
    (["build", "--preset", "vgg16"], "xlcnn summary --preset vgg16"),
    (["build", "--arch", "conv3x3x64-p1,relu,maxpool2,dense", "--size", "224"], "largest --size that fits"),
    (["build", "--arch", "conv3x3x64-p1,relu,maxpool2,dense", "--size", "224"], "`xlcnn summary` shows its table"),
])
def test_bad_requests_get_one_line(args, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = CliRunner().invoke(main, args)
    assert run.exit_code != 0 and words in run.output and "Traceback" not in run.output
    if "no sheets" in run.output:
        assert run.exit_code == 2    # a network the workbook cannot draw yet: a bad option, as for a too-big one
    assert len(run.output.strip().splitlines()) == 1 and not list(tmp_path.iterdir())


def _total_named(wb, name):
    return named_values(wb, name)[0, 0]
