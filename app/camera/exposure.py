"""Darken the picture while holo foil glares, brighten back when it stops (pure logic + a source hook).

Sources that can (Picamera2: ``set_exposure_compensation``) get an exposure compensation that steps
down by ``step`` stops while the glare fraction of the cards in view stays above ``high``, and back up
towards 0 when it falls below ``low`` — slowly, so the auto-exposure does not pump.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

logger = logging.getLogger(__name__)


@runtime_checkable
class ExposureControl(Protocol):
    def set_exposure_compensation(self, ev: float) -> float: ...


@dataclass
class GlareExposure:
    high: float = 0.08
    low: float = 0.02
    step: float = 0.25
    minimum: float = -2.0
    #: Frames between changes (the sensor needs a few frames to settle after each one).
    settle_frames: int = 6
    ev: float = 0.0
    _since_change: int = 0

    def update(self, glare: float | None) -> float | None:
        """Feed the worst glare fraction among the cards in view (None: no card). Returns the new EV
        when it should change, else None."""
        self._since_change += 1
        if glare is None or self._since_change < self.settle_frames:
            return None
        target = self.ev
        if glare > self.high:
            target = max(self.minimum, self.ev - self.step)
        elif glare < self.low:
            target = min(0.0, self.ev + self.step)
        if target == self.ev:
            return None
        self.ev = target
        self._since_change = 0
        return target

    def apply(self, source: object, glare: float | None) -> None:
        if not isinstance(source, ExposureControl):
            return
        new_ev = self.update(glare)
        if new_ev is not None:
            actual = source.set_exposure_compensation(new_ev)
            logger.info("Glare %.0f%%: exposure compensation %.2f EV", 100 * (glare or 0.0), actual)
