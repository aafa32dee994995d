"""Writes the demo's sample video: 20 s, 640x360, five shots with camera motion, speech and a tone.

Generated here, so it carries no third-party licence.
"""

import sys
from pathlib import Path

import cv2

from support.media_factory import Shot, place, render_shots, speech, tone, write_video

SHOTS = [
    Shot(4, 11),
    Shot(4, 12, pan_px_s=120),
    Shot(4, 13, zoom_per_s=1.15),
    Shot(3, 14, tilt_px_s=60),
    Shot(1, 15, black=True),
    Shot(4, 16, pan_px_s=-120),
]


def titled(frames):
    for i, frame in enumerate(frames):
        if i < 4 * 25:
            cv2.putText(frame, "VIDEO TIMELINE DEMO", (60, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (255, 255, 255), 4)
        yield frame


def main(target: str) -> None:
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = place(
        20,
        [
            (0.5, speech("Welcome to the video timeline demo. Every second of this clip gets described.")),
            (9.0, tone(2.0, 330.0)),
            (12.5, speech("The camera tilts down, then the screen goes black.")),
        ],
    )
    write_video(path, titled(render_shots(SHOTS, 640, 360, 25)), 25, audio=audio)
    print(f"sample written: {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "samples/sample.mp4")
