"""Drawing a SMAX state as an RGB frame (Pillow, off-screen): allies blue, enemies red, each unit a disc
of its type's radius with its type's initial and a health bar, and a caption with the step and the units
alive. Used by `SMAXEnv.render` (evaluate=True render=True writes the frames as a GIF)."""

from __future__ import annotations

import numpy as np

TEAM_COLOURS = ((31, 119, 180), (214, 39, 40))  # team 0 (our agents), team 1 (the heuristic enemy)
CAPTION_HEIGHT = 18


def draw_units(
    positions: np.ndarray,
    alive: np.ndarray,
    teams: np.ndarray,
    health_fraction: np.ndarray,
    radiuses: np.ndarray,
    initials: list[str],
    map_size: tuple[float, float],
    caption: str,
    width: int = 360,
) -> np.ndarray:
    """A frame `[height, width, 3]` uint8 of the units: `positions` `[units, 2]` in map coordinates
    (y up), `alive`, `teams` (0 or 1), `health_fraction` in [0, 1] and `radiuses` per unit (map units),
    `initials` a letter per unit. Dead units are not drawn."""
    from PIL import Image, ImageDraw

    scale = width / map_size[0]
    height = int(round(map_size[1] * scale))
    image = Image.new("RGB", (width, height + CAPTION_HEIGHT), (245, 245, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, width - 1, CAPTION_HEIGHT - 1], fill=(255, 255, 255))
    draw.text((4, 3), caption, fill=(0, 0, 0))
    for i in np.flatnonzero(alive):
        x = positions[i, 0] * scale
        y = CAPTION_HEIGHT + height - positions[i, 1] * scale
        r = max(4.0, float(radiuses[i]) * scale)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=TEAM_COLOURS[int(teams[i])], outline=(0, 0, 0))
        draw.text((x - 3, y - 6), initials[i], fill=(255, 255, 255))
        bar = [x - r, y - r - 5, x + r, y - r - 2]
        draw.rectangle(bar, fill=(200, 200, 200))
        draw.rectangle([bar[0], bar[1], bar[0] + 2 * r * float(np.clip(health_fraction[i], 0, 1)), bar[3]], fill=(44, 160, 44))
    return np.asarray(image, dtype=np.uint8)
