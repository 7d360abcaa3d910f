"""Drawing a SMAX state as an RGB frame (Pillow, off-screen): allies blue, enemies red, each unit a disc
of its type's radius with its type's initial and a health bar, and a caption with the step and the units
alive. The frame shows a square `view` of the map, which `SMAXEnv.render` fixes for an episode around
where its units start (a battle fills a small part of the map). Used by `SMAXEnv.render`
(evaluate=True render=True writes the frames as a GIF)."""

from __future__ import annotations

import numpy as np

TEAM_COLOURS = ((31, 119, 180), (214, 39, 40))  # team 0 (our agents), team 1 (the heuristic enemy)
CAPTION_HEIGHT = 18
VIEW_MARGIN = 4.0  # map units around the units' starting box
MIN_VIEW = 16.0  # map units: the smallest view side
MIN_RADIUS = 7.0  # pixels: a unit's disc is at least this large, so it stays visible


def episode_view(positions: np.ndarray, map_size: tuple[float, float]) -> tuple[float, float, float]:
    """(left, bottom, side) of a square view around `positions` `[units, 2]` with `VIEW_MARGIN`, at least
    `MIN_VIEW` and at most the map's larger side."""
    low, high = positions.min(axis=0), positions.max(axis=0)
    side = min(max(float((high - low).max()) + 2 * VIEW_MARGIN, MIN_VIEW), float(max(map_size)))
    centre = (low + high) / 2
    return float(centre[0] - side / 2), float(centre[1] - side / 2), side


def draw_units(
    positions: np.ndarray,
    alive: np.ndarray,
    teams: np.ndarray,
    health_fraction: np.ndarray,
    radiuses: np.ndarray,
    initials: list[str],
    view: tuple[float, float, float],
    caption: str,
    width: int = 360,
) -> np.ndarray:
    """A frame `[width + CAPTION_HEIGHT, width, 3]` uint8 of the units in `view` (left, bottom, side in
    map units): `positions` `[units, 2]` in map coordinates (y up), `alive`, `teams` (0 or 1),
    `health_fraction` in [0, 1] and `radiuses` per unit (map units), `initials` a letter per unit. Dead
    units are not drawn."""
    from PIL import Image, ImageDraw

    left, bottom, side = view
    scale = width / side
    height = width
    image = Image.new("RGB", (width, height + CAPTION_HEIGHT), (245, 245, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, width - 1, CAPTION_HEIGHT - 1], fill=(255, 255, 255))
    draw.text((4, 3), caption, fill=(0, 0, 0))
    for i in np.flatnonzero(alive):
        x = (positions[i, 0] - left) * scale
        y = CAPTION_HEIGHT + height - (positions[i, 1] - bottom) * scale
        r = max(MIN_RADIUS, float(radiuses[i]) * scale)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=TEAM_COLOURS[int(teams[i])], outline=(0, 0, 0))
        draw.text((x - 3, y - 6), initials[i], fill=(255, 255, 255))
        bar = [x - r, y - r - 6, x + r, y - r - 2]
        draw.rectangle(bar, fill=(200, 200, 200))
        draw.rectangle([bar[0], bar[1], bar[0] + 2 * r * float(np.clip(health_fraction[i], 0, 1)), bar[3]], fill=(44, 160, 44))
    return np.asarray(image, dtype=np.uint8)
