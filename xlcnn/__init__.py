"""xlcnn: a convolutional neural network as a live Excel workbook, proven equal to NumPy."""

__version__ = "0.1.0"   # first, so modules imported below can read it

from .engine import ForwardPass, forward
from .errors import XlcnnError
from .image import load_image
from .layout import plan_layout
from .options import BuildOptions
from .kinds import CLASSES as _LAYER_CLASSES
from .kinds import *  # noqa: F401,F403  the layer classes, one per kind (listed in kinds/__init__.py)
from .network import Model, infer_shapes, load_model, random_model, save_model
from .pipeline import make_workbook
from .verify import Report, verify_workbook, verify_workbooks
from .workbook import build_workbook

__all__ = [
    "BuildOptions", "ForwardPass", "Model", "Report", "XlcnnError", "build_workbook", "forward", "infer_shapes",
    "load_image", "load_model", "make_workbook", "plan_layout", "random_model", "save_model", "verify_workbook",
    "verify_workbooks", *(cls.__name__ for cls in _LAYER_CLASSES),
]
