"""HDR frames (PQ, HLG) are analysed as an SDR display shows them: the same picture mastered as SDR and as HDR
(ffmpeg's zscale puts SDR white at HDR reference white, as BT.2408 does) gives the same brightness and colours."""

import numpy as np
import pytest

from analyzers import decode as decode_module
from analyzers.decode import decode_video
from analyzers.frames import iter_frames
from analyzers.hdr import sdr_view
from analyzers.probe import probe_video
from support.media_factory import ffmpeg

TRANSFERS = {"pq": "smpte2084", "hlg": "arib-std-b67"}


def _clip(folder, kind: str):
    """2 s of ffmpeg's colour test pattern at half its saturation (as colours in footage are, not pure primaries,
    whose small parts the round trip through 4:2:0 BT.2020 and back cannot keep), 10-bit HEVC, as SDR (BT.709)
    or as HDR (BT.2020, PQ or HLG)."""
    path = folder / f"{kind}.mkv"
    if kind == "sdr":
        convert, tags = "hue=s=0.5,format=yuv420p10le", "colorprim=bt709:transfer=bt709:colormatrix=bt709"
    else:
        trc = TRANSFERS[kind]
        to_hdr = f"zscale=tin=bt709:min=bt709:pin=bt709:t={trc}:m=bt2020nc:p=bt2020:npl=203"
        convert = f"hue=s=0.5,format=gbrp,{to_hdr},format=yuv420p10le"
        tags = f"colorprim=bt2020:transfer={trc}:colormatrix=bt2020nc"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=10:duration=2", "-vf", convert),
        *("-c:v", "libx265", "-preset", "ultrafast", "-x265-params", f"log-level=error:{tags}", str(path)),
    )
    return path


def _mean_rgb(path, tmp_path):
    result = decode_video(probe_video(path), tmp_path / f"{path.stem}.parquet")
    frames = [f.image.reshape(-1, 3).mean(axis=0) / 255 for f in iter_frames(tmp_path / f"{path.stem}.parquet")]
    return result, np.mean(frames, axis=0), result.signals["brightness"].mean()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hdr")
    return {kind: _clip(folder, kind) for kind in ("sdr", "pq", "hlg")}


@pytest.mark.parametrize("kind", ["pq", "hlg"])
def test_an_hdr_clip_is_seen_as_its_sdr_master(clips, tmp_path, kind):
    _, sdr_rgb, sdr_brightness = _mean_rgb(clips["sdr"], tmp_path)
    result, rgb, brightness = _mean_rgb(clips[kind], tmp_path)
    assert result.hdr == {"pq": "PQ (SMPTE ST 2084)", "hlg": "HLG (ARIB STD-B67)"}[kind]
    assert np.abs(rgb - sdr_rgb).max() < 0.03, (rgb, sdr_rgb)
    assert brightness == pytest.approx(sdr_brightness, abs=0.03)


def test_without_the_conversion_a_pq_clip_reads_dim_and_washed_out(clips, tmp_path, monkeypatch):
    """What the frames looked like before: the test above fails where the conversion is left out."""
    _, sdr_rgb, sdr_brightness = _mean_rgb(clips["sdr"], tmp_path)
    monkeypatch.setattr(decode_module, "sdr_view", lambda transfer, primaries: None)
    result, rgb, brightness = _mean_rgb(clips["pq"], tmp_path)
    assert result.hdr is None and brightness < sdr_brightness - 0.05 and np.abs(rgb - sdr_rgb).max() > 0.05


def test_an_sdr_clip_is_left_as_it_is(clips, tmp_path):
    assert _mean_rgb(clips["sdr"], tmp_path)[0].hdr is None
    assert sdr_view(1, 1) is None and sdr_view(2, 2) is None  # BT.709, unspecified


@pytest.mark.parametrize(
    ("transfer", "coded", "shown"),
    [
        (16, 0, (0, 0)),
        (16, 148, (245, 255)),  # PQ at 203 cd/m², reference white: SDR white
        (16, 110, (125, 150)),  # PQ at 45 cd/m²: 22 % of reference white's light
        (16, 230, (250, 255)),  # PQ at 4,000 cd/m²: rolled off into the top of the range
        (18, 191, (245, 255)),  # HLG at 75 %, its reference white
        (18, 96, (95, 125)),  # HLG at 38 %: 13 % of reference white's light
    ],
)
def test_grey_levels_of_pq_and_hlg_map_to_their_sdr_levels(transfer, coded, shown):
    grey = np.full((2, 2, 3), coded, np.uint8)
    low, high = shown
    assert low <= int(sdr_view(transfer, 1)(grey)[0, 0, 0]) <= high
