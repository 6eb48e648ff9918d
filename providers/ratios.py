"""Naming a pixel size by the aspect ratio it is sold as."""

from __future__ import annotations

import math

COMMON_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "5:4", "4:5", "21:9", "9:21", "2:1", "1:2", "16:10", "10:16")


def ratio_of(width: int, height: int) -> str:
    """The common ratio a size is sold as (1456x816 is "16:9"), else its exact reduced ratio."""
    value = width / height
    for label in COMMON_RATIOS:
        w, h = (int(p) for p in label.split(":"))
        if abs(value / (w / h) - 1) < 0.03:
            return label
    divisor = math.gcd(width, height)
    return f"{width // divisor}:{height // divisor}"
