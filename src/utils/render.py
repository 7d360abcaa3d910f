"""Saving rendered frames (e.g. a MaMuJoCo test episode drawn off-screen) as an animated GIF."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np


def save_gif(frames: Sequence[np.ndarray], path: str, fps: int = 20) -> None:
    """Write RGB frames `[height, width, 3]` uint8 to `path` as a looping GIF (folders are created)."""
    from PIL import Image

    if not frames:
        raise ValueError(f"no frames to write to {path}: the env recorded none")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    images = [Image.fromarray(np.asarray(frame, dtype=np.uint8)) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=max(1, 1000 // fps), loop=0)
