"""Equivariant neural-network modules with e3nn.nn's names, signatures and parameters (e3nn
state_dicts load unchanged); every module works under TorchScript, torch.compile and
torch.export.

Example::

    >>> import torch
    >>> from e3core import nn
    >>> gate = nn.Gate("8x0e", [torch.relu], "4x0e", [torch.sigmoid], "4x1o")
    >>> gate(torch.randn(10, 24)).shape
    torch.Size([10, 20])
"""

from e3core.nn._activation import Activation
from e3core.nn._batchnorm import BatchNorm
from e3core.nn._dropout import Dropout
from e3core.nn._extract import Extract, ExtractIr
from e3core.nn._fc import FullyConnectedNet
from e3core.nn._gate import Gate
from e3core.nn._identity import Identity
from e3core.nn._normact import NormActivation
from e3core.nn._s2act import S2Activation
from e3core.nn._so3act import SO3Activation
from e3core.nn._symmetric_contraction import SymmetricContraction, coupling_basis

__all__ = [
    "Activation",
    "BatchNorm",
    "Dropout",
    "Extract",
    "ExtractIr",
    "FullyConnectedNet",
    "Gate",
    "Identity",
    "NormActivation",
    "S2Activation",
    "SO3Activation",
    "SymmetricContraction",
    "coupling_basis",
]
