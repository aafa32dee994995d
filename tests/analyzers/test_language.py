"""A generated video with German speech (espeak-ng) and German captions, through the one decode pass,
OCR and transcription, into the timeline: the words, their language and the German letters survive."""

import numpy as np
import pytest

from analyzers import ocr, transcript
from analyzers.decode import decode_audio, decode_video
from analyzers.probe import probe_video
from analyzers.records import events_frame
from analyzers.timeline import build_timeline
from support.media_factory import caption_lines, latin_font, place, speech, write_video
from support.words import word_error_rate

SAID = (
    "Guten Morgen und herzlich willkommen. Heute zeigen wir Ihnen die neue Bäckerei am Marktplatz. "
    "Die Brötchen sind frisch und die Preise sind günstig."
)
CARDS = [  # (first second, last second + 1, lines on screen)
    (0, 4, ["Größte Übersicht für Bäcker", "Schöne Grüße aus Köln"]),
    (4, 8, ["Fußgängerzone", "Jörg Weiß, Geschäftsführer"]),
    (8, 11, ["Ärztliche Bescheinigung", "Heute: Übungen für Anfänger"]),
]
FPS = 5


@pytest.fixture(scope="module")
def german_clip(tmp_path_factory):
    """11 s, 640x360 at 5 fps: three caption cards in DejaVu Sans; German speech from 0.5 s."""
    font = latin_font("Sans")
    frames = [caption_lines(lines, 640, 360, 26, font=font) for a, b, lines in CARDS for _ in range((b - a) * FPS)]
    audio = place(11, [(0.5, speech(SAID, voice="de"))])
    return write_video(tmp_path_factory.mktemp("german") / "german.mp4", frames, FPS, audio=audio)


def test_german_speech_and_captions_reach_the_timeline(german_clip, tmp_path):
    probe = probe_video(german_clip)
    frames, audio = tmp_path / "frames.parquet", tmp_path / "audio.parquet"
    decode_video(probe, frames, sample_fps=2.0)
    decode_audio(probe, audio)
    whisper = transcript.load_whisper(transcript.resolve_whisper_folder(transcript.DEFAULT_MODEL))
    events = ocr.analyze_text(frames, probe.duration_s) + transcript.analyze_transcript(
        whisper, audio, probe.duration_s, "whisper-base"
    )
    timeline = build_timeline("german", probe.duration_s, events_frame(events, "german"))

    truth = [(s, text) for a, b, lines in CARDS for s in range(a, b) for text in lines]
    found = sum(text in list(timeline["text"][s]) for s, text in truth)
    assert found / len(truth) >= 0.9  # exact strings, umlauts and ß included
    assert word_error_rate(SAID, " ".join(t for t in timeline["transcript"] if t)) <= 0.3
    spoken = [s for s, t in enumerate(timeline["transcript"]) if t]
    assert len(spoken) >= 6 and {timeline["language"][s] for s in spoken} == {"de"}
    silent = [s for s, t in enumerate(timeline["transcript"]) if not t]
    assert all(timeline["language"][s] == "" for s in silent)
    assert not timeline["language"].isna().any() and np.isfinite(timeline["coverage"]).all()
