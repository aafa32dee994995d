"""Tiny media made in the tests, with known content: scenes (cuts), camera motion, tones, speech."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def texture(seed: int, width: int, height: int) -> np.ndarray:
    """A detailed random image (blobs, lines, text) with plenty of corners to track."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(0, 255, (height // 24 + 2, width // 24 + 2, 3), dtype=np.uint8), (width, height))
    img = cv2.GaussianBlur(base, (0, 0), 3)
    for _ in range(width * height // 3000):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            cv2.circle(img, (x, y), int(rng.integers(3, 14)), colour, -1)
        else:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(4, 24)), y + int(rng.integers(4, 24))), colour, -1)
    return img


@dataclass(frozen=True)
class Shot:
    """seconds of one scene; motion in output pixels per second (content moves by -camera motion)."""

    seconds: float
    seed: int
    pan_px_s: float = 0.0  # camera moving right (+) / left (-)
    tilt_px_s: float = 0.0  # camera moving down (+) / up (-)
    zoom_per_s: float = 1.0  # > 1: camera zooms in
    black: bool = False


def render_shots(shots: list[Shot], width: int, height: int, fps: int):
    """Yields RGB frames: each shot a window moving over a larger texture."""
    for shot in shots:
        canvas = texture(shot.seed, width * 3, height * 3)
        cx0, cy0 = canvas.shape[1] / 2, canvas.shape[0] / 2
        for i in range(int(round(shot.seconds * fps))):
            if shot.black:
                yield np.zeros((height, width, 3), np.uint8)
                continue
            t = i / fps
            cx, cy = cx0 + shot.pan_px_s * t, cy0 + shot.tilt_px_s * t
            scale = shot.zoom_per_s**t  # field of view shrinks by this factor when zooming in
            w, h = width / scale, height / scale
            src = np.float32([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2], [cx - w / 2, cy + h / 2]])
            dst = np.float32([[0, 0], [width, 0], [0, height]])
            yield cv2.warpAffine(canvas, cv2.getAffineTransform(src, dst), (width, height), flags=cv2.INTER_LINEAR)


def write_video(
    path: Path,
    frames,
    fps: int,
    audio: np.ndarray | None = None,
    audio_rate: int = 16_000,
    audio_layout: str = "mono",
    rotation: int = 0,
) -> Path:
    """H.264 (+ AAC) MP4 from RGB frames and optional float PCM in -1..1 (channels x samples for multichannel)."""
    path = Path(path)
    frames = iter(frames)
    first = next(frames)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = first.shape[1], first.shape[0], "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "20", "g": str(fps)}
        if rotation:
            vs.set_display_rotation(rotation)
        aus = None
        if audio is not None:
            aus = out.add_stream("aac", rate=audio_rate, layout=audio_layout)
        for frame in _chain(first, frames):
            for packet in vs.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if aus is not None:
            pcm = np.atleast_2d(audio).astype(np.float32)
            block = 1024
            for start in range(0, pcm.shape[1], block):
                chunk = np.ascontiguousarray(pcm[:, start : start + block])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=audio_layout)
                frame.sample_rate = audio_rate
                frame.pts = start
                frame.time_base = Fraction(1, audio_rate)
                for packet in aus.encode(frame):
                    out.mux(packet)
            for packet in aus.encode():
                out.mux(packet)
    return path


def _chain(first, rest):
    yield first
    yield from rest


def tone(seconds: float, freq: float = 440.0, rate: int = 16_000, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speech(text: str, rate: int = 16_000, voice: str = "en-us") -> np.ndarray:
    """Real synthesized speech from espeak-ng (a Debian package the test set-up installs)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed: run the README's test command (it installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run([exe, "-v", voice, "-s", "150", "-w", str(wav), text], check=True, capture_output=True)
        with wave.open(str(wav)) as w:
            src_rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0
    n = int(round(len(pcm) * rate / src_rate))
    return np.interp(np.linspace(0, len(pcm) - 1, n), np.arange(len(pcm)), pcm).astype(np.float32)


def place(track_seconds: float, clips: list[tuple[float, np.ndarray]], rate: int = 16_000) -> np.ndarray:
    """A silent track with each clip starting at its time."""
    track = np.zeros(int(track_seconds * rate), np.float32)
    for start, clip in clips:
        a = int(start * rate)
        b = min(len(track), a + len(clip))
        track[a:b] += clip[: b - a]
    return track
