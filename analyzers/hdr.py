"""HDR video (PQ or HLG, as phones and HDR masters record) seen as an SDR display shows it.

Decoded and scaled to 8-bit RGB, an HDR frame still carries its HDR transfer: PQ puts the brightness of a
white page (203 cd/m², BT.2408's reference white) at about 58 % of the code range, so the frames look dim and
flat, and BT.2020 colours read as BT.709 look washed out (the first 20 s of synthetic_clip01 mastered as PQ,
white at 203 cd/m²: mean brightness 0.33 and saturation 0.29 against 0.38 and 0.48 for the SDR master, 9 of
20 seconds named another colour, 6 of them "grey"; converted: 0.38 and 0.49, 1 second named otherwise).
`sdr_view` gives the conversion an SDR
rendering makes: each channel to display light (PQ's EOTF; HLG's inverse OETF and its OOTF at a 1000 cd/m²
display), reference white at SDR white, highlights above it rolled off softly into the top of the range
instead of clipped, BT.2020 primaries to BT.709 in linear light, then the SDR display's gamma (BT.1886's
2.4, the display-referred convention zimg, ffmpeg's zscale, also uses). The roll-off is per channel (a very
bright saturated light shifts a little in hue): enough for what the analyzers measure.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

PQ, HLG = 16, 18  # ffmpeg's AVColorTransferCharacteristic: SMPTE ST 2084, ARIB STD-B67
BT2020 = 9  # AVColorPrimaries
NAMES = {PQ: "PQ (SMPTE ST 2084)", HLG: "HLG (ARIB STD-B67)"}
REFERENCE_WHITE = 203.0  # cd/m², BT.2408: diffuse white in HDR, shown at SDR white
HLG_PEAK = 1000.0  # cd/m², the display HLG's OOTF is taken at (BT.2100's reference)
KNEE = 0.9  # SDR linear light above which highlights are rolled off rather than clipped
# Linear BT.2020 RGB to linear BT.709 RGB (BT.2087): rows are the BT.709 channels.
BT2020_TO_BT709 = np.array(
    [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]], dtype=np.float32
)


def _pq_light(coded: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084 EOTF: coded value 0..1 -> cd/m²."""
    m1, m2, c1, c2, c3 = 2610 / 16384, 2523 / 32, 3424 / 4096, 2413 / 128, 2392 / 128
    p = coded ** (1 / m2)
    return 10000.0 * (np.maximum(p - c1, 0.0) / (c2 - c3 * p)) ** (1 / m1)


def _hlg_light(coded: np.ndarray) -> np.ndarray:
    """ARIB STD-B67 inverse OETF, then BT.2100's OOTF (system gamma 1.2) at HLG_PEAK: coded 0..1 -> cd/m²."""
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    scene = np.where(coded <= 0.5, coded**2 / 3, (np.exp((coded - c) / a) + b) / 12)
    return HLG_PEAK * scene**1.2


def _roll_off(light: np.ndarray) -> np.ndarray:
    """Linear light with SDR white at 1: unchanged up to KNEE, above it approaching 1 without reaching it."""
    over = np.maximum(light - KNEE, 0.0)
    return np.where(light <= KNEE, light, KNEE + (1 - KNEE) * (1 - np.exp(-over / (1 - KNEE))))


class SdrView:
    """Converts 8-bit RGB frames of one HDR stream to what an SDR display shows (see the module docstring)."""

    def __init__(self, transfer: int, primaries: int):
        coded = np.arange(256) / 255.0
        light = (_pq_light(coded) if transfer == PQ else _hlg_light(coded)) / REFERENCE_WHITE
        self._linear = _roll_off(light).astype(np.float32)  # per 8-bit value: SDR linear light, 0..1
        # To BT.709 primaries and onto 0..65535 (rounded) in one affine step; then a table of BT.1886's display
        # gamma turns those 65536 steps into 8-bit values (0.5 ms a 320x180 frame; cv2.pow alone took 0.6 ms).
        gamut = BT2020_TO_BT709 if primaries == BT2020 else np.eye(3, dtype=np.float32)
        self._to_steps = np.hstack([gamut * 65535.0, np.full((3, 1), 0.5, np.float32)])
        self._gamma = np.round(np.linspace(0.0, 1.0, 65536) ** (1 / 2.4) * 255).astype(np.uint8)
        self.name = NAMES[transfer]

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        steps = cv2.transform(cv2.LUT(rgb, self._linear), self._to_steps)
        np.clip(steps, 0.0, 65535.0, out=steps)  # a BT.2020 colour outside BT.709 is clipped to its nearest edge
        return self._gamma[steps.astype(np.uint16)]


@lru_cache(maxsize=8)
def sdr_view(transfer: int, primaries: int) -> SdrView | None:
    """The conversion for a stream of this transfer characteristic and these primaries (ffmpeg's codes); None for
    any transfer that is not PQ or HLG: SDR frames are analysed as they are."""
    return SdrView(transfer, primaries) if transfer in NAMES else None
