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
    crf: int = 20,
) -> Path:
    """H.264 (+ AAC) MP4 from RGB frames and optional float PCM in -1..1 (channels x samples for multichannel)."""
    path = Path(path)
    frames = iter(frames)
    first = next(frames)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = first.shape[1], first.shape[0], "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": str(crf), "g": str(fps)}
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


def ffmpeg(*args: str) -> None:
    """Runs the ffmpeg CLI (an argument list, never a shell string); raises with its stderr on failure."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("ffmpeg is not installed: run the README's test command (it installs it)")
    proc = subprocess.run(
        [exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args], capture_output=True, text=True
    )
    if proc.returncode:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {proc.stderr[-2000:]}")


FAST_H264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")  # quick to write, any player reads it


def tone_tracks(path: Path, tracks: list[tuple[str, str]]) -> Path:
    """A 1 s clip whose audio track k is a tone of 300 + 400 k Hz, with (disposition, language) as given."""
    args = ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1"]
    for k in range(len(tracks)):
        args += ["-f", "lavfi", "-i", f"sine=f={300 + 400 * k}:duration=1:sample_rate=16000"]
    args += [x for k in range(len(tracks) + 1) for x in ("-map", str(k))]
    args += [*FAST_H264, "-c:a", "aac" if path.suffix != ".ts" else "mp2"]
    for k, (disposition, language) in enumerate(tracks):
        args += [f"-disposition:a:{k}", disposition] + (
            [f"-metadata:s:a:{k}", f"language={language}"] if language else []
        )
    ffmpeg(*args, str(path))
    return path


def pattern_video(
    path: Path, seconds: float, width: int, height: int, fps: float, *, audio_rate: int | None = None, codec_args=()
) -> Path:
    """ffmpeg's moving test pattern as H.264 (+ a PCM tone when audio_rate is given); fast for long or large videos."""
    path = Path(path)
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}"]
    if audio_rate:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=300:sample_rate={audio_rate}"]
    audio = ["-c:a", "pcm_s16le"] if audio_rate else []
    ffmpeg(*inputs, "-t", str(seconds), *FAST_H264, *codec_args, *audio, str(path))
    return path


def remux(source: Path, target: Path, *args: str) -> Path:
    """Copies the streams into another container (or with other metadata) without re-encoding."""
    ffmpeg("-i", str(source), "-c", "copy", *args, str(target))
    return Path(target)


def truncated_copy(source: Path, target: Path, fraction: float = 0.5) -> Path:
    """The first `fraction` of the file's bytes, as if a copy or download stopped mid-file."""
    data = Path(source).read_bytes()
    Path(target).write_bytes(data[: int(len(data) * fraction)])
    return Path(target)


def latin_font(style: str = "Sans") -> Path:
    """A TrueType font with every Latin letter (ä ö ü ß é ñ ...): DejaVu <style> ("Sans", "Sans-Bold",
    "Serif"), shipped in matplotlib's wheel. Pillow's bundled default font has no umlauts."""
    from matplotlib import get_data_path

    return Path(get_data_path()) / "fonts" / "ttf" / f"DejaVu{style}.ttf"


def caption_lines(
    lines: list[str],
    width: int = 320,
    height: int = 180,
    size: int = 28,
    background: np.ndarray | None = None,
    font: Path | None = None,
    band: bool = True,
    top: int | None = None,
) -> np.ndarray:
    """An RGB frame with each of `lines` rendered in white, centred, one under the other, each on a dark
    band (band=False: straight on the background); Pillow's bundled font unless `font` is given."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.fromarray(background if background is not None else np.full((height, width, 3), 40, np.uint8))
    draw = ImageDraw.Draw(image)
    face = ImageFont.load_default(size=size) if font is None else ImageFont.truetype(str(font), size)
    boxes = [draw.textbbox((0, 0), text, font=face) for text in lines]
    step = max(b[3] - b[1] for b in boxes) * 2
    y = height // 2 - (step * (len(lines) - 1) + boxes[0][3] - boxes[0][1]) // 2 if top is None else top
    for text, (left, up, right, bottom) in zip(lines, boxes):
        x = (width - (right - left)) // 2
        if band:
            draw.rectangle((x - 8, y - 8, x + right - left + 8, y + bottom - up + 16), fill=(20, 20, 20))
        draw.text((x - left, y - up), text, font=face, fill=(255, 255, 255))
        y += step
    return np.array(image)


def caption(
    text: str,
    width: int = 320,
    height: int = 180,
    size: int = 28,
    background: np.ndarray | None = None,
    font: Path | None = None,
) -> np.ndarray:
    """An RGB frame with `text` rendered in white (Pillow's bundled font unless `font`) on a dark band."""
    return caption_lines([text], width, height, size, background, font)


def face_photo() -> np.ndarray:
    """A real face: the portrait of Grace Hopper that ships in matplotlib's wheel (mpl-data/sample_data,
    a US Navy photograph, public domain), RGB, 600x512."""
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def paste(background: np.ndarray, picture: np.ndarray, x: int, y: int, height: int) -> np.ndarray:
    """A copy of `background` with `picture` scaled to `height` pixels high pasted at (x, y)."""
    scale = height / picture.shape[0]
    small = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    out = background.copy()
    h, w = small.shape[:2]
    out[y : y + h, x : x + w] = small[: out.shape[0] - y, : out.shape[1] - x]
    return out


def write_frame_store(path: Path, images: list[np.ndarray], fps: float = 2.0) -> Path:
    """A sampled-frames store (what the decode pass writes) holding `images` at `fps`."""
    from analyzers.frames import FrameStoreWriter, SampledFrame

    writer = FrameStoreWriter(Path(path))
    for i, image in enumerate(images):
        writer.add(SampledFrame(t=i / fps, frame_index=i, image=image))
    writer.close()
    return Path(path)


def write_audio_store(path: Path, pcm: np.ndarray, rate: int = 16_000) -> Path:
    """A 16 kHz mono audio store (what the audio decode pass writes) holding `pcm`."""
    import math

    from analyzers.audio_store import AudioStoreWriter

    writer = AudioStoreWriter(Path(path))
    writer.add(pcm)
    writer.finish(len(pcm), math.ceil(len(pcm) / rate))
    writer.close()
    return Path(path)


DETECTOR_LABELS = {0: "cat", 1: "cup", 2: "rocket"}


def tiny_object_detector(folder: Path, num_queries: int = 6) -> Path:
    """A randomly initialised RT-DETR of the real architecture (ResNet backbone without timm, about 66k
    parameters) saved as safetensors with its image processor: what a user's detector folder holds."""
    import torch
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrImageProcessor, RTDetrResNetConfig

    torch.manual_seed(0)
    backbone = RTDetrResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16, 16, 16], depths=[1, 1, 1, 1], layer_type="basic",
        out_features=["stage2", "stage3", "stage4"],
    )  # fmt: skip
    config = RTDetrConfig(
        backbone_config=backbone, use_pretrained_backbone=False, d_model=16, encoder_hidden_dim=16,
        encoder_in_channels=[16, 16, 16], decoder_in_channels=[16, 16, 16], encoder_ffn_dim=32, decoder_ffn_dim=32,
        encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, decoder_n_points=2,
        num_feature_levels=3, num_queries=num_queries, num_denoising=0,
        id2label=DETECTOR_LABELS, label2id={v: k for k, v in DETECTOR_LABELS.items()},
    )  # fmt: skip
    RTDetrForObjectDetection(config).save_pretrained(folder)
    RTDetrImageProcessor(size={"height": 64, "width": 64}).save_pretrained(folder)
    return Path(folder)


def portrait_picture(seed: int = 11) -> np.ndarray:
    """An upright portrait picture (96 wide, 160 high) with a red block in its top-left corner."""
    image = texture(seed, 96, 160)
    image[:30, :30] = (255, 0, 0)
    return image


def phone_video(
    path: Path, picture: np.ndarray, degrees: int, *, tag: bool = True, seconds: float = 2, fps: int = 10
) -> Path:
    """A phone-style file: `picture` stored turned, with the metadata that tells players to turn it back.

    tag=True: the `rotate` tag as ffmpeg writes it (`-metadata:s:v rotate=N`); tag=False: the display
    matrix written by PyAV. Either way ffmpeg's own player logic (autorotate) shows `picture` upright.
    """
    path = Path(path)
    coded = np.ascontiguousarray(np.rot90(picture, k=-degrees // 90))
    frames = (coded for _ in range(int(seconds * fps)))
    if not tag:
        return write_video(path, frames, fps, rotation=degrees)
    with tempfile.TemporaryDirectory() as tmp:
        return remux(write_video(Path(tmp) / "coded.mp4", frames, fps), path, "-metadata:s:v", f"rotate={degrees}")


def dissolve_frames(
    first: Shot, second: Shot, overlap_s: float, width: int, height: int, fps: int, *, linear_light: bool = False
):
    """Yields RGB frames: `first`, then over its last `overlap_s` a dissolve into `second`, which plays on.
    The mix is of the coded values, or of linear light (as some editors blend). The dissolve's middle is at
    first.seconds - overlap_s / 2."""
    a = list(render_shots([first], width, height, fps))
    b = list(render_shots([second], width, height, fps))
    n = int(round(overlap_s * fps))
    yield from a[: len(a) - n]
    for i in range(n):
        w = (i + 1) / (n + 1)  # weight of the new picture
        old, new = a[len(a) - n + i].astype(np.float32) / 255, b[i].astype(np.float32) / 255
        mixed = (1 - w) * old**2.2 + w * new**2.2 if linear_light else (1 - w) * old + w * new
        yield np.clip((mixed ** (1 / 2.2) if linear_light else mixed) * 255 + 0.5, 0, 255).astype(np.uint8)
    yield from b[n:]


def swing_frames(
    seed: int,
    seconds: float,
    width: int,
    height: int,
    fps: int,
    *,
    at: float,
    swing_s: float,
    swing_px: float,
    blur: bool = True,
    grey: bool = False,
):
    """Yields RGB frames of a fixed camera that swings sideways by `swing_px` output pixels within `swing_s`
    seconds from `at` (smoothly, fastest in the middle; swing_s 0: a jolt between two frames) and holds
    still after it. With `blur` each frame averages the picture over its exposure, as a real shutter does;
    `grey` drops the colour (a low-saturation scene, where colour histograms say little)."""
    canvas = texture(seed, width * 3, height * 2)
    if grey:
        canvas = cv2.cvtColor(cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    y0 = height // 2

    def offset(t: float) -> float:
        if t <= at:
            return 0.0
        if swing_s <= 0 or t >= at + swing_s:
            return swing_px
        return swing_px * (1 - np.cos(np.pi * (t - at) / swing_s)) / 2

    for i in range(int(round(seconds * fps))):
        steps = np.linspace(i / fps - 1 / fps, i / fps, 8) if blur else [i / fps]
        views = [canvas[y0 : y0 + height, int(width + offset(t)) : int(width + offset(t)) + width] for t in steps]
        yield np.mean(views, axis=0).round().astype(np.uint8)


def exposure_ramp_frames(seed: int, seconds: float, width: int, height: int, fps: int, *, at: float, ramp_s: float):
    """Yields RGB frames of one still picture whose exposure rises to 1.8x within `ramp_s` from `at` (lights
    coming on, an automatic exposure settling): a gradual change of the same picture, no transition."""
    picture = texture(seed, width, height).astype(np.float32)
    for i in range(int(round(seconds * fps))):
        gain = 1 + 0.8 * float(np.clip((i / fps - at) / ramp_s, 0, 1))
        yield np.clip(picture * gain, 0, 255).astype(np.uint8)


def turned(picture: np.ndarray, width_share: float = 1.0, roll_deg: float = 0.0) -> np.ndarray:
    """`picture` as if the subject turned away (a perspective warp that narrows the picture to `width_share`
    of its width and shrinks its far side, roughly a 3/4 view at 0.4) and tilted its head by `roll_deg`."""
    h, w = picture.shape[:2]
    out = picture
    if width_share < 1.0:
        k = width_share
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = np.float32([[0, 0], [w * k, h * (1 - k) / 4], [w * k, h - h * (1 - k) / 4], [0, h]])
        matrix = cv2.getPerspectiveTransform(src, dst)
        out = cv2.warpPerspective(out, matrix, (int(w * k), h), borderMode=cv2.BORDER_REFLECT)
    if roll_deg:
        ow, oh = out.shape[1], out.shape[0]
        matrix = cv2.getRotationMatrix2D((ow / 2, oh / 2), roll_deg, 1.0)
        out = cv2.warpAffine(out, matrix, (ow, oh), borderMode=cv2.BORDER_REFLECT)
    return out


FREEDESKTOP_SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")


def theme_sound(name: str, rate: int = 16_000) -> np.ndarray:
    """A real recorded sound of Debian's sound-theme-freedesktop (scripts/setup.sh installs it), 16 kHz mono:
    `phone-incoming-call`, `camera-shutter`, `audio-channel-front-left` (a human voice), ..."""
    import av

    path = FREEDESKTOP_SOUNDS / f"{name}.oga"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: install Debian's sound-theme-freedesktop (scripts/setup.sh does)")
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = [f.to_ndarray().reshape(-1) for frame in container.decode(audio=0) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32)
