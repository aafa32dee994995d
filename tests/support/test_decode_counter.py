"""The decode counter counts every frame, whichever PyAV API decodes it, and every open, however `open` is reached.

The video's frame count is known from how it was built; the audio's comes from decoding it with PyAV
directly, before the counter is in place.
"""

import av
import av.container
import pytest
from av import open as open_bound_at_import  # a name bound before the counter exists: it must still count

from support.decode_counter import DecodeCounts, counting_media_reads, counting_open
from support.media_factory import Shot, render_shots, tone, write_video

FRAMES, FPS = 12, 10


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """1.2 s, 64x48 at 10 fps (12 frames), with 1.2 s of AAC audio."""
    path = tmp_path_factory.mktemp("counter") / "clip.mp4"
    return write_video(path, render_shots([Shot(FRAMES / FPS, 3)], 64, 48, FPS), FPS, audio=tone(FRAMES / FPS))


@pytest.fixture(scope="module")
def audio_frames(clip) -> int:
    with av.open(str(clip)) as container:  # the real PyAV, no counter
        return sum(1 for _ in container.decode(audio=0))


def decode_with_container(container):
    return list(container.decode(container.streams.video[0], container.streams.audio[0]))


def decode_packets(container):
    return [frame for packet in container.demux() for frame in packet.decode()]


def decode_through_the_stream(container):
    video, audio = container.streams.video[0], container.streams.audio[0]
    # demux ends each stream with an empty packet, which flushes what its decoder still holds
    return [frame for packet in container.demux(video, audio) for frame in packet.stream.decode(packet)]


def decode_with_codec_contexts(container):
    return [frame for packet in container.demux() for frame in packet.stream.codec_context.decode(packet)]


@pytest.mark.parametrize(
    "decode, api",
    [
        (decode_with_container, "container.decode"),
        (decode_packets, "packet.decode"),
        (decode_through_the_stream, "stream.decode"),
        (decode_with_codec_contexts, "codec_context.decode"),
    ],
)
def test_every_decoding_api_counts_every_frame(clip, audio_frames, decode, api):
    counts = DecodeCounts()
    with counting_open(av.open, counts)(str(clip)) as container:
        container.streams.video[0].thread_type = "AUTO"  # settings reach the real stream
        frames = decode(container)
    assert counts.opened == [str(clip)]
    assert counts.video_frames == FRAMES and counts.audio_frames == audio_frames > 0
    assert counts.by_api == {api: FRAMES + audio_frames} and counts.other_frames == 0
    pictures = [f for f in frames if isinstance(f, av.VideoFrame)]  # PyAV's own frames, not proxies
    assert len(pictures) == FRAMES and pictures[0].to_ndarray(format="rgb24").shape == (48, 64, 3)


def test_a_second_pass_inside_an_open_container_is_counted_too(clip):
    counts = DecodeCounts()
    with counting_open(av.open, counts)(str(clip)) as container:
        first = next(container.decode(video=0))
        container.seek(0, stream=container.streams.video[0])  # a stream proxy where PyAV wants the stream
        again = decode_packets(container)
    assert first.width == 64 and len(again) > FRAMES
    assert counts.video_frames == 1 + FRAMES and counts.by_api["packet.decode"] == len(again)


def test_every_way_to_open_a_file_is_counted_and_restored_afterwards(clip):
    real_open = av.open
    with counting_media_reads() as counts:
        for opener in (av.open, av.container.open, open_bound_at_import):
            with opener(str(clip)) as container:
                next(container.decode(video=0))
    assert counts.opened == [str(clip)] * 3 and counts.video_frames == 3
    assert av.open is real_open and av.container.open is real_open and open_bound_at_import is real_open
    with av.open(str(clip)) as container:  # nothing counts once the block is over
        next(container.decode(video=0))
    assert counts.video_frames == 3
