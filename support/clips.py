"""The standard test clips: generated media whose cuts, camera motion and sound are known by construction."""

from pathlib import Path

from support.media_factory import Shot, place, render_shots, speech, tone, write_video

# Shots of the standard clip: cuts at 2, 4 and 6 s, a 1 s dip to black (one transition,
# placed at its middle), one camera motion per shot.
CLIP_SHOTS = [
    Shot(2, 1),
    Shot(2, 2, pan_px_s=60),
    Shot(2, 3, tilt_px_s=-40),
    Shot(2, 4, zoom_per_s=1.25),
    Shot(1, 5, black=True),
    Shot(2, 6, pan_px_s=-60),
]
CLIP_CUTS = [2.0, 4.0, 6.0, 8.5]
CLIP_CAMERA = [
    "static", "static", "pan_right", "pan_right", "tilt_up", "tilt_up", "zoom_in", "zoom_in", "unknown",
    "pan_left", "pan_left",
]  # fmt: skip
SPEECH_AT = (1.0, "Hello there, this is a test of the speech detector.")
TONE_AT = (6.0, 2.0)  # start, seconds of a 440 Hz tone (sound, not speech)


def standard_clip(path: Path) -> Path:
    """11 s, 320x180 at 15 fps, H.264 + AAC: the cuts, camera motion, speech and tone above."""
    audio = place(11, [(SPEECH_AT[0], speech(SPEECH_AT[1])), (TONE_AT[0], tone(TONE_AT[1]))])
    return write_video(path, render_shots(CLIP_SHOTS, 320, 180, 15), 15, audio=audio)


def silent_clip(path: Path) -> Path:
    """3.5 s, 160x96 at 10 fps, no audio stream."""
    return write_video(path, render_shots([Shot(3.5, 7)], 160, 96, 10), 10)
