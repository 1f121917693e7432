"""xlcnn: a convolutional neural network as a live Excel workbook, proven equal to NumPy."""

__version__ = "0.1.0"   # first, so modules imported below can read it

from .engine import ForwardPass, forward
from .errors import XlcnnError
from .image import load_image
from .layout import plan_layout
from .options import BuildOptions
from .network import (Conv2D, Dense, Flatten, MaxPool2D, Model, ReLU, Softmax, infer_shapes, load_model,
                      random_model, save_model)
from .pipeline import make_workbook
from .verify import Report, verify_workbook, verify_workbooks
from .workbook import build_workbook

__all__ = [
    "BuildOptions", "Conv2D", "Dense", "Flatten", "ForwardPass", "MaxPool2D", "Model", "ReLU", "Report", "Softmax",
    "XlcnnError", "build_workbook", "forward", "infer_shapes", "load_image", "load_model",
    "make_workbook", "plan_layout", "random_model", "save_model", "verify_workbook", "verify_workbooks",
]
