"""The NumPy reference engine's functions, one pair per layer kind, gathered under one name.

Each pair lives in its kind's module in ``kinds/`` beside the layer class that calls it;
this module collects them (and the shared helpers and the loss) so ``layers.conv_forward``
and friends keep one address. Shapes: a picture x is (C, H, W), or (N, C, H, W) for a
batch; every function accepts both. Each ``*_forward`` has a formula twin of the same name
in ``formulas.py``.
"""

from .kinds.add import add_backward, add_forward
from .kinds.avgpool2d import avgpool_backward, avgpool_forward
from .kinds.base import TIE_MARGIN, pad_input, tie_margin
from .kinds.concat import concat_backward, concat_forward
from .kinds.conv2d import (conv_backward, conv_backward_naive, conv_forward, conv_forward_naive, effective_kernel,
                           kernel_gradient)
from .kinds.dense import dense_backward, dense_forward
from .kinds.flatten import flatten_backward, flatten_forward
from .kinds.leakyrelu import leaky_relu_backward, leaky_relu_forward
from .kinds.maxpool2d import maxpool_backward, maxpool_forward
from .kinds.relu import relu_backward, relu_forward
from .kinds.sigmoid import sigmoid_backward, sigmoid_forward
from .kinds.softmax import cross_entropy, log_softmax, predicted_class, softmax_cross_entropy, softmax_forward
from .kinds.tanh import tanh_backward, tanh_forward

__all__ = [
    "TIE_MARGIN", "add_backward", "add_forward", "avgpool_backward", "avgpool_forward", "concat_backward",
    "concat_forward", "conv_backward", "conv_backward_naive", "conv_forward", "conv_forward_naive", "cross_entropy",
    "dense_backward", "dense_forward", "effective_kernel", "flatten_backward", "flatten_forward", "kernel_gradient",
    "leaky_relu_backward", "leaky_relu_forward", "log_softmax", "maxpool_backward", "maxpool_forward", "pad_input",
    "predicted_class", "relu_backward", "relu_forward", "sigmoid_backward", "sigmoid_forward",
    "softmax_cross_entropy", "softmax_forward", "tanh_backward", "tanh_forward", "tie_margin",
]
