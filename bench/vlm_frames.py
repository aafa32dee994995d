"""Frame stores for the VLM benchmarks, made with OpenCV only (no PyAV: the GPU kit's machine has none).

`video_to_store` samples a real clip at 2 frames per second; `synthetic_store` draws a video of any
length (moving shapes on a drifting gradient, a clock, occasional cuts). With random weights the
content changes nothing in memory or speed; only the frame size and count matter.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from analyzers.frames import FrameStoreWriter, SampledFrame


def video_to_store(clip: Path, store: Path, fps: float = 2.0, max_side: int = 1280) -> float:
    """Samples `clip` at `fps` (longer side at most `max_side`) into a frame store; returns the duration."""
    cap = cv2.VideoCapture(str(clip))
    if not cap.isOpened():
        raise ValueError(f"{clip}: OpenCV cannot open this video")
    rate = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer = FrameStoreWriter(store)
    next_t, last_t, index = 0.0, 0.0, 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            t = index / rate
            last_t = t + 1.0 / rate
            index += 1
            if t + 1e-6 < next_t:
                continue
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            h, w = image.shape[:2]
            if max(h, w) > max_side:
                s = max_side / max(h, w)
                image = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            writer.add(SampledFrame(t=t, frame_index=index - 1, image=image))
            next_t += 1.0 / fps
    finally:
        cap.release()
        writer.close()
    if writer.count == 0:
        raise ValueError(f"{clip}: no frames decoded")
    return last_t


def synthetic_frame(t: float, height: int = 720, width: int = 1280) -> np.ndarray:
    """An RGB frame of a made-up scene at time t (a cut every 7 s changes the palette)."""
    shot = int(t // 7)
    rng = np.random.default_rng(shot)
    base = rng.integers(40, 200, 3)
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    drift = (t % 7) / 7
    img = (base + 50 * np.sin(2 * math.pi * (x + drift)) + 30 * y).clip(0, 255).astype(np.uint8)
    for k in range(4):
        cx = int((0.2 + 0.6 * ((t * (0.05 + 0.03 * k) + 0.25 * k) % 1)) * width)
        cy = int((0.25 + 0.15 * k) * height)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(img, (cx, cy), height // (8 + 2 * k), colour, -1)
    cv2.putText(img, f"{int(t // 60):02d}:{int(t % 60):02d}", (40, height - 40), 0, 2.0, (255, 255, 255), 3)
    return img


def synthetic_store(store: Path, duration_s: float, fps: float = 2.0, height: int = 720, width: int = 1280) -> float:
    """A frame store of a synthetic `duration_s` video at `fps`; returns the duration."""
    writer = FrameStoreWriter(store)
    for i in range(math.ceil(duration_s * fps - 1e-9)):
        t = i / fps
        writer.add(SampledFrame(t=t, frame_index=i, image=synthetic_frame(t, height, width)))
    writer.close()
    return float(duration_s)
