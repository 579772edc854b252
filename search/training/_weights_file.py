"""Reading a weights file that a user or a damaged disk may have changed.

``torch.load`` raises a different exception for every way a file can be wrong (empty,
cut short, text, another pickle); whoever reads weights gets one line instead, naming
the file and what to do, and never a state dict with NaNs in it.
"""

from __future__ import annotations

import io
from typing import Type

import torch


def state_dict_from_bytes(raw: bytes, where: str, fix: str, error: Type[Exception]) -> dict[str, torch.Tensor]:
    """The state dict of tensors in ``raw``, or ``error("{where} ...; {fix}")``.

    ``where`` names the weights as the sentence's subject (plural: "the weights of ...").
    """
    try:
        state_dict = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as cause:  # truncated, empty, text or foreign: torch raises many kinds
        raise error(f"{where} are not a readable weights file ({type(cause).__name__}); {fix}") from None
    if not isinstance(state_dict, dict) or not all(isinstance(value, torch.Tensor) for value in state_dict.values()):
        raise error(f"{where} hold no state dict of tensors; {fix}")
    broken = [name for name, value in state_dict.items() if value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if broken:
        raise error(f"{where} hold non-finite values (in {', '.join(broken[:3])}); {fix}")
    return state_dict
