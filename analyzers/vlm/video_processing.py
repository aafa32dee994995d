"""Torchvision-free video preprocessing for the supported vision-language families.

transformers 5.x ships video processors only as torchvision classes (`BaseVideoProcessor`
requires torchvision at construction), and the only torchvision build for torch 2.13 here is
CUDA-linked. So frames are prepared with numpy and OpenCV instead: each family's processor class
from transformers is used as is (prompt expansion, tokenisation, `mm_token_type_ids`), with one of
the video processors below plugged into its `video_processor` slot. The output tensors have the
exact layout the models expect (checked in the tests against transformers' own patchify and the
models' forward).

Frames arrive already at the planned size (the planner chooses it, `resize_frames` applies it), so
these processors only validate the size, normalise and lay out patches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import cv2
import numpy as np
from transformers.feature_extraction_utils import BatchFeature
from transformers.video_utils import VideoMetadata

try:  # transformers >= 5.2x: the torchvision-free base of video processors
    from transformers.video_processing_utils import VideoProcessorMixin as _VideoProcessorBase
except ImportError:  # earlier 5.x (the GPU kit's 5.17): every video processor is a torchvision class
    from transformers.image_processing_utils import BaseImageProcessor as _VideoProcessorBase

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def resize_frames(frames: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """Resizes RGB uint8 frames to height x width; area averaging when shrinking (no aliasing)."""
    out = np.empty((len(frames), height, width, 3), np.uint8)
    for i, frame in enumerate(frames):
        h, w = frame.shape[:2]
        if (h, w) == (height, width):
            out[i] = frame
            continue
        shrink = height * width < h * w
        out[i] = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return out


def center_square(frames: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Shortest side to `size`, then the central size x size crop (LLaVA-NeXT-Video's training view)."""
    out = np.empty((len(frames), size, size, 3), np.uint8)
    for i, frame in enumerate(frames):
        h, w = frame.shape[:2]
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        resized = resize_frames([frame], nh, nw)[0]
        top, left = (nh - size) // 2, (nw - size) // 2
        out[i] = resized[top : top + size, left : left + size]
    return out


def _normalised(video: np.ndarray, rescale: float, mean, std) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float32, rescaled and normalised per channel."""
    x = video.astype(np.float32) * np.float32(rescale)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _as_video(video) -> np.ndarray:
    arr = np.asarray(video)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected a video as a (frames, height, width, 3) uint8 array, got {arr.dtype} {arr.shape}")
    return arr


class ArrayVideoProcessor(_VideoProcessorBase):
    """Common part: accepts a list of (T, H, W, 3) uint8 arrays; ignores kwargs meant for torchvision."""

    model_input_names: ClassVar[list[str]] = ["pixel_values_videos"]

    def __call__(self, videos, return_tensors=None, fps: float | None = None, **_ignored) -> BatchFeature:
        if isinstance(videos, np.ndarray) and videos.ndim == 4:
            videos = [videos]
        arrays = [_as_video(v) for v in videos]
        data = self._process(arrays)
        # Clips are passed at their true sampling rate (`fps`), which Qwen2.5-VL turns into absolute time.
        rate = float(fps if fps is not None else self.frames_per_second)
        data["video_metadata"] = [
            VideoMetadata(total_num_frames=len(v), fps=rate, frames_indices=list(range(len(v)))) for v in arrays
        ]
        return BatchFeature(data, tensor_type=return_tensors, skip_tensor_conversion=["video_metadata"])


class QwenArrayVideoProcessor(ArrayVideoProcessor):
    """Qwen2-VL / Qwen2.5-VL: 2-frame temporal patches of 14x14 pixels, merged 2x2 into one token."""

    model_input_names: ClassVar[list[str]] = ["pixel_values_videos", "video_grid_thw"]

    def __init__(
        self,
        patch_size: int = 14,
        temporal_patch_size: int = 2,
        merge_size: int = 2,
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
        rescale_factor: float = 1 / 255,
        min_pixels: int = 56 * 56,
        max_pixels: int = 28 * 28 * 768,
        frames_per_second: float = 2.0,
    ):
        super().__init__()
        self.patch_size = int(patch_size)
        self.temporal_patch_size = int(temporal_patch_size)
        self.merge_size = int(merge_size)
        self.image_mean = tuple(float(x) for x in image_mean)
        self.image_std = tuple(float(x) for x in image_std)
        self.rescale_factor = float(rescale_factor)
        self.min_pixels = int(min_pixels)
        self.max_pixels = int(max_pixels)
        self.frames_per_second = frames_per_second

    @property
    def factor(self) -> int:
        """Pixels per token side: a token covers factor x factor pixels of each frame pair."""
        return self.patch_size * self.merge_size

    def patchify(self, video: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
        """(T, H, W, 3) uint8 -> (grid_t*grid_h*grid_w, 3*tp*p*p) float32 patches and the grid."""
        t, h, w, _ = video.shape
        if h % self.factor or w % self.factor:
            raise ValueError(
                f"frame size {h}x{w} is not a multiple of {self.factor}; resize to the planned geometry first"
            )
        x = _normalised(video, self.rescale_factor, self.image_mean, self.image_std)
        tp, p, m = self.temporal_patch_size, self.patch_size, self.merge_size
        if pad := -t % tp:  # the last temporal patch repeats the last frame, as the model was trained
            x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
        gt, gh, gw = x.shape[0] // tp, h // p, w // p
        x = x.reshape(gt, tp, 3, gh // m, m, p, gw // m, m, p)
        # order: time, merged row, merged col, row in merge, col in merge | channel, time in patch, y, x
        x = x.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
        return np.ascontiguousarray(x.reshape(gt * gh * gw, 3 * tp * p * p)), (gt, gh, gw)

    def _process(self, videos: list[np.ndarray]) -> dict:
        patches, grids = zip(*(self.patchify(v) for v in videos))
        return {"pixel_values_videos": np.concatenate(patches), "video_grid_thw": np.asarray(grids, np.int64)}


class LlavaArrayVideoProcessor(ArrayVideoProcessor):
    """LLaVA-NeXT-Video: square frames at the vision tower's size, (videos, T, 3, S, S)."""

    def __init__(
        self,
        crop_size: int = 336,
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
        rescale_factor: float = 1 / 255,
        frames_per_second: float = 1.0,
    ):
        super().__init__()
        self.crop_size = int(crop_size)
        self.image_mean = tuple(float(x) for x in image_mean)
        self.image_std = tuple(float(x) for x in image_std)
        self.rescale_factor = float(rescale_factor)
        self.frames_per_second = frames_per_second

    def _process(self, videos: list[np.ndarray]) -> dict:
        lengths = {len(v) for v in videos}
        if len(lengths) != 1:
            raise ValueError(f"LLaVA-NeXT-Video clips in one prompt need the same frame count, got {sorted(lengths)}")
        for v in videos:
            if v.shape[1:3] != (self.crop_size, self.crop_size):
                raise ValueError(
                    f"frame size {v.shape[1]}x{v.shape[2]} is not the vision tower's {self.crop_size}x{self.crop_size}"
                )
        x = np.stack([_normalised(v, self.rescale_factor, self.image_mean, self.image_std) for v in videos])
        return {"pixel_values_videos": x}
