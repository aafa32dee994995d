import numpy as np
import pytest
from transformers import Qwen2VLImageProcessorPil

from analyzers.vlm.video_processing import (
    CLIP_MEAN,
    CLIP_STD,
    LlavaArrayVideoProcessor,
    QwenArrayVideoProcessor,
    center_square,
    resize_frames,
)


def _norm(value: float) -> np.ndarray:
    return (np.float32(value) / np.float32(255) - np.asarray(CLIP_MEAN, np.float32)) / np.asarray(CLIP_STD, np.float32)


def test_qwen_patches_match_transformers_image_layout():
    """A still frame pair must give exactly what transformers' own Qwen2-VL patchify gives for the image."""
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (56, 84, 3), dtype=np.uint8)
    ours = QwenArrayVideoProcessor()(videos=[np.stack([frame, frame])], return_tensors="np")
    ref = Qwen2VLImageProcessorPil()(images=[frame], do_resize=False, return_tensors="np")
    assert ours["video_grid_thw"].tolist() == [[1, 4, 6]] == ref["image_grid_thw"].tolist()
    np.testing.assert_allclose(ours["pixel_values_videos"], ref["pixel_values"], rtol=0, atol=1e-5)


def test_qwen_temporal_patch_keeps_frame_order_and_pads_with_last_frame():
    frames = np.stack([np.full((28, 56, 3), v, np.uint8) for v in (10, 100, 200)])
    vp = QwenArrayVideoProcessor()
    patches, grid = vp.patchify(frames)
    assert grid == (2, 2, 4)  # 3 frames -> 2 temporal patches, the last one padded
    p2 = 14 * 14
    per_patch = patches.reshape(2, 2 * 4, 3, 2, p2)  # time, patch, channel, frame in patch, pixels
    for t, (a, b) in enumerate([(10, 100), (200, 200)]):
        np.testing.assert_allclose(
            per_patch[t, :, :, 0, :], np.broadcast_to(_norm(a)[None, :, None], (8, 3, p2)), atol=1e-5
        )
        np.testing.assert_allclose(
            per_patch[t, :, :, 1, :], np.broadcast_to(_norm(b)[None, :, None], (8, 3, p2)), atol=1e-5
        )


def test_qwen_rejects_frames_not_at_a_planned_size():
    with pytest.raises(ValueError, match="multiple of 28"):
        QwenArrayVideoProcessor().patchify(np.zeros((2, 30, 56, 3), np.uint8))


def test_llava_square_crop_and_layout():
    frame = np.zeros((90, 160, 3), np.uint8)
    frame[:, 65:95] = 255  # a white band in the centre survives the centre crop
    clip = center_square([frame, frame], 56)
    assert clip.shape == (2, 56, 56, 3)
    assert clip[:, :, 28].min() == 255 and clip[:, :, 0].max() == 0
    out = LlavaArrayVideoProcessor(crop_size=56)(videos=[clip, clip, clip], return_tensors="np")
    x = out["pixel_values_videos"]
    assert x.shape == (3, 2, 3, 56, 56)
    np.testing.assert_allclose(x[0, 0, :, 0, 0], _norm(0), atol=1e-5)
    np.testing.assert_allclose(x[0, 0, :, 10, 28], _norm(255), atol=1e-5)


def test_llava_rejects_mixed_frame_counts():
    clip = np.zeros((2, 56, 56, 3), np.uint8)
    with pytest.raises(ValueError, match="same frame count"):
        LlavaArrayVideoProcessor(crop_size=56)(videos=[clip, clip[:1]])


def test_resize_keeps_colours_and_size():
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[..., 0] = 200
    out = resize_frames([frame], 392, 700)
    assert out.shape == (1, 392, 700, 3) and int(out[0, 100, 100, 0]) == 200
