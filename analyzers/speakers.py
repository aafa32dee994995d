"""Who speaks when: one speaker embedding per voiced second, clustered over the whole video into speaker ids.

The encoder is Resemblyzer's pretrained voice encoder (a 3-layer LSTM over 40 mel bands, 256-d output;
Apache-2.0), shipped as `pretrained.pt` inside the `resemblyzer` wheel (installed without its
dependencies: only the weights file is used, the package is never imported). Its state dict is read with
torch.load(weights_only=True); the network runs in numpy (an LSTM of this size is cheap), so no torch
module runs per video. Features follow Resemblyzer's published ones: 16 kHz, 25 ms Hann windows every
10 ms, power spectrum, 40 Slaney mel bands, no log; two 1.6 s windows (160 frames) centred at 0.25 and
0.75 s of each voiced second, each raised to -30 dBFS; the second's embedding is their normalised mean.

Clustering: consecutive voiced seconds whose embeddings stay similar form runs; runs are merged by
average-linkage agglomeration on cosine similarity until no pair reaches `merge_similarity`; each second
is then given the speaker whose centroid is nearest, and a speaker never heard for `min_seconds` seconds in
a row is folded into the nearest other one (a cough, or a second that blends two voices at a turn, is not
a new person).

Per second the value is the list of speaker ids heard ("S1", "S2", ... in order of first appearance;
one id at most: overlapping speech goes to the dominant voice), [] where nobody speaks. The confidence
of a speaker id is the margin between the similarity to its own centroid and to the next best centroid
(scaled, 0.5 where only one speaker exists and the second is close to it); for [] it is the voice
activity detector's certainty of silence, given by the caller.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import util as importlib_util
from pathlib import Path

import numpy as np

from analyzers.audio_store import AUDIO_RATE, iter_audio_windows
from analyzers.model_cache import cached_arrays
from analyzers.progress import Progress, Say
from analyzers.records import DERIVED, Event, per_second_spans

VERSION = "1"
ASPECT = "speakers"
SOURCE = "resemblyzer"
WINDOW_S = 1.6
N_FFT, HOP, N_MELS = 400, 160, 40
PARTIAL_FRAMES = 160
TARGET_DBFS = -30.0
MIN_SPEECH = 0.25  # share of a second voiced (the `speech` aspect) for it to get a speaker
MERGE_SIMILARITY = 0.60  # mean cosine between two clusters above which they are one speaker (docs/perception.md)
RUN_SIMILARITY = 0.80  # consecutive seconds this similar start as one run
MIN_SECONDS = 2  # a speaker never heard this many seconds in a row is folded into the nearest other
MARGIN_SCALE = 0.25  # a centroid margin this large is full confidence
CHUNK_S = 256  # seconds of audio read and embedded at once (memory stays flat on long videos: 17 MB)
PAD_S = 2  # audio of the neighbouring chunks read with each: a window reaches 1.55 s past its second's start
BLOCK = 1 << 22  # similarities between clusters computed at a time (32 MB)
OFFSETS_S = (0.25, 0.75)  # window centres in each second: their embeddings are averaged (steadier than one)


@dataclass(frozen=True)
class EncoderFile:
    package: str
    path: str
    licence: str
    origin: str


RESEMBLYZER = EncoderFile(
    package="resemblyzer",
    path="pretrained.pt",
    licence="Apache-2.0",
    origin="Resemblyzer 0.1.4 voice encoder (Resemble AI, GE2E-trained LSTM, Apache-2.0), inside its PyPI wheel",
)


class SpeakerModelError(RuntimeError):
    """The speaker encoder is missing or unusable; the message says which file and why."""


def weights_path() -> Path | None:
    spec = importlib_util.find_spec(RESEMBLYZER.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / RESEMBLYZER.path
    return path if path.is_file() else None


def installed() -> bool:
    return weights_path() is not None


# ---- features ----------------------------------------------------------------------------------


def _hz_to_slaney(hz):
    hz = np.asarray(hz, float)
    linear = hz * 3.0 / 200.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / (np.log(6.4) / 27.0), linear)


def _slaney_to_hz(mel):
    mel = np.asarray(mel, float)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * 200.0 / 3.0)


@lru_cache(maxsize=1)
def mel_matrix() -> np.ndarray:
    """(N_FFT // 2 + 1, 40) Slaney-scale triangles, area-normalised, 0 Hz to Nyquist."""
    freqs = np.linspace(0.0, AUDIO_RATE / 2, N_FFT // 2 + 1)
    points = _slaney_to_hz(np.linspace(0.0, _hz_to_slaney(AUDIO_RATE / 2), N_MELS + 2))
    lower, centre, upper = points[:-2], points[1:-1], points[2:]
    rising = (freqs[:, None] - lower) / (centre - lower)
    falling = (upper - freqs[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (upper - lower))
    return weights.astype(np.float32)


def mel_frames(pcm: np.ndarray) -> np.ndarray:
    """(frames, 40) mel power frames, one every 10 ms, windows centred on their frame (zero padded)."""
    pcm = np.pad(np.asarray(pcm, np.float32), N_FFT // 2)
    frames = 1 + (len(pcm) - N_FFT) // HOP
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(frames)[:, None]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    power = np.abs(np.fft.rfft(pcm[index] * hann)) ** 2
    return (power @ mel_matrix()).astype(np.float32)


def raise_level(pcm: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Louder to `target_dbfs` (never quieter), as the encoder was trained on level-normalised speech."""
    power = float(np.mean(np.square(pcm, dtype=np.float64))) if len(pcm) else 0.0
    if power <= 0:
        return pcm
    gain_db = target_dbfs - 10.0 * math.log10(power)
    return pcm * (10.0 ** (gain_db / 20.0)) if gain_db > 0 else pcm


def window_features(pcm: np.ndarray, centres_s: list[float]) -> np.ndarray:
    """(n, 160, 40): the features of a 1.6 s window centred on each time (padded with silence at the ends)."""
    half = int(WINDOW_S * AUDIO_RATE) // 2
    padded = np.pad(np.asarray(pcm, np.float32), half)
    out = []
    for centre in centres_s:
        at = int(round(centre * AUDIO_RATE))
        window = padded[at : at + 2 * half]
        window = np.pad(window, (0, 2 * half - len(window)))  # past the end of the track: silence
        out.append(mel_frames(raise_level(window))[:PARTIAL_FRAMES])
    return np.stack(out) if out else np.zeros((0, PARTIAL_FRAMES, N_MELS), np.float32)


# ---- encoder -----------------------------------------------------------------------------------


class SpeakerEncoder:
    """An LSTM speaker encoder in numpy: LSTM layers (PyTorch's gate order i, f, g, o), the last hidden
    state of the last layer through Linear + ReLU, L2-normalised."""

    def __init__(self, state: dict[str, np.ndarray]):
        self.layers = []
        k = 0
        while f"lstm.weight_ih_l{k}" in state:
            w_ih, w_hh = state[f"lstm.weight_ih_l{k}"], state[f"lstm.weight_hh_l{k}"]
            bias = state[f"lstm.bias_ih_l{k}"] + state[f"lstm.bias_hh_l{k}"]
            self.layers.append((w_ih.T.astype(np.float32), w_hh.T.astype(np.float32), bias.astype(np.float32)))
            k += 1
        if not self.layers or "linear.weight" not in state:
            raise SpeakerModelError("the speaker encoder's weights hold no lstm.* and linear.* tensors")
        self.linear_w, self.linear_b = state["linear.weight"].T.astype(np.float32), state["linear.bias"]

    def embed(self, features: np.ndarray, batch: int = 64) -> np.ndarray:
        """(n, frames, mels) -> (n, embedding) unit vectors."""
        out = [self._embed(features[i : i + batch]) for i in range(0, len(features), batch)]
        return np.concatenate(out) if out else np.zeros((0, self.linear_w.shape[1]), np.float32)

    def _embed(self, x: np.ndarray) -> np.ndarray:
        seq = np.asarray(x, np.float32)
        n, steps = seq.shape[:2]
        for w_ih, w_hh, bias in self.layers:
            hidden = w_hh.shape[0]
            gates_in = seq @ w_ih + bias  # every step's input projection at once
            h = np.zeros((n, hidden), np.float32)
            c = np.zeros((n, hidden), np.float32)
            outputs = np.empty((n, steps, hidden), np.float32)
            for t in range(steps):
                g = gates_in[:, t] + h @ w_hh
                i, f = _sigmoid(g[:, :hidden]), _sigmoid(g[:, hidden : 2 * hidden])
                cell, o = np.tanh(g[:, 2 * hidden : 3 * hidden]), _sigmoid(g[:, 3 * hidden :])
                c = f * c + i * cell
                h = o * np.tanh(c)
                outputs[:, t] = h
            seq = outputs
        raw = np.maximum(0.0, h @ self.linear_w + self.linear_b)
        return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-9)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def read_state(path: Path) -> dict[str, np.ndarray]:
    """The model_state of a PyTorch checkpoint as numpy arrays (weights only: no code is unpickled)."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise SpeakerModelError(f"{path}: cannot read the speaker encoder's weights ({exc})") from exc
    state = checkpoint.get("model_state", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise SpeakerModelError(f"{path}: not a state dict of a speaker encoder")
    return {k: v.numpy() for k, v in state.items() if hasattr(v, "numpy")}


def cached_state(path: Path, cache_dir: Path | None = None) -> dict[str, np.ndarray]:
    """The checkpoint's weights as numpy arrays. torch reads the checkpoint once; the arrays are kept in the
    model cache, so later processes load them without importing torch (1-2 s)."""
    return cached_arrays(path, "speaker-encoder", lambda: read_state(path), cache_dir)


@lru_cache(maxsize=1)
def load_encoder() -> SpeakerEncoder:
    path = weights_path()
    if path is None:
        raise SpeakerModelError(
            "speakers: the voice encoder is not installed (the `resemblyzer` wheel holds it: "
            "pip install --no-deps resemblyzer==0.1.4, as scripts/setup.sh does)"
        )
    return SpeakerEncoder(cached_state(path))


# ---- clustering --------------------------------------------------------------------------------


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


def cluster_speakers(
    embeddings: np.ndarray,
    seconds: np.ndarray | None = None,
    merge_similarity: float = MERGE_SIMILARITY,
    run_similarity: float = RUN_SIMILARITY,
    min_seconds: int = MIN_SECONDS,
) -> tuple[np.ndarray, np.ndarray]:
    """Speaker index per embedding (0, 1, ... in order of first appearance) and each one's confidence.

    `embeddings` are in time order, one per voiced second; `seconds` their seconds (default 0, 1, 2 ...)."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, int), np.zeros(0)
    emb = _unit(np.asarray(embeddings, np.float64))
    # Runs of consecutive seconds that stay alike: the starting clusters.
    runs = np.zeros(n, int)
    for k in range(1, n):
        runs[k] = runs[k - 1] + (float(emb[k] @ emb[k - 1]) < run_similarity)
    members = [list(m) for m in np.split(np.arange(n), np.flatnonzero(np.diff(runs)) + 1)]
    alive = _merge_runs(emb, members, merge_similarity)
    clusters = [sorted(members[k]) for k in np.flatnonzero(alive)]
    # Fold speakers never heard for min_seconds seconds in a row into the others (a second at a turn blends
    # two voices and may look like a third), then give every second its nearest centroid.
    at = np.arange(n) if seconds is None else np.asarray(seconds)
    big = [c for c in clusters if _longest_turn(at[c]) >= min_seconds] or [max(clusters, key=len)]
    centroids = _unit(np.stack([emb[c].mean(axis=0) for c in big]))
    sims = emb @ centroids.T
    label = np.argmax(sims, axis=1)
    if len(big) > 1:
        ordered = np.sort(sims, axis=1)
        confidence = np.clip(0.5 + (ordered[:, -1] - ordered[:, -2]) / (2 * MARGIN_SCALE), 0.0, 1.0)
    else:
        confidence = np.clip(0.5 + (sims[:, 0] - merge_similarity) / (2 * MARGIN_SCALE), 0.0, 1.0)
    # Ids in order of first appearance.
    order = {old: new for new, old in enumerate(dict.fromkeys(label.tolist()))}
    return np.array([order[x] for x in label.tolist()], int), confidence


def _merge_runs(emb: np.ndarray, members: list[list[int]], merge_similarity: float) -> np.ndarray:
    """Average-linkage agglomeration of the runs (merged in place in `members`) until no two clusters reach
    `merge_similarity`; returns which clusters are left.

    The similarity of two clusters is the mean similarity of their members, which for unit vectors is the dot
    product of the clusters' sums over the product of their sizes. Each cluster keeps only its most similar
    partner (no clusters x clusters matrix): memory grows with the runs, not their square, and a merge costs
    the rows of the clusters that look again. Noise that starts a run at every second: 3,000 seconds merge in
    about 1 s, 10,800 (three hours) in about 20 s, on 2 cores (bench/long_video_clusters.py)."""
    sums = np.stack([emb[m].sum(axis=0) for m in members])
    sizes = np.array([len(m) for m in members], float)
    alive = np.ones(len(members), bool)
    partner = np.zeros(len(members), int)
    best = np.full(len(members), -np.inf)
    step = max(1, BLOCK // len(members))

    def look_again(clusters: np.ndarray) -> None:
        """The best partner of each of `clusters` among the live ones, a block of them at a time."""
        for a in range(0, len(clusters), step):
            these = clusters[a : a + step]
            similarity = (sums @ sums[these].T) / np.outer(sizes, sizes[these])
            similarity[~alive] = -np.inf
            similarity[these, np.arange(len(these))] = -np.inf
            partner[these], best[these] = similarity.argmax(axis=0), similarity.max(axis=0)

    look_again(np.arange(len(members)))
    while alive.sum() > 1:
        i = int(np.argmax(best))
        if best[i] < merge_similarity:
            break
        # the lower index takes the other: the pair the first maximum of the full matrix would name
        i, j = min(i, int(partner[i])), max(i, int(partner[i]))
        sums[i] += sums[j]
        sizes[i] += sizes[j]
        members[i] += members[j]
        alive[j], best[j] = False, -np.inf
        # The merged cluster and those whose best partner was one of the two look again. The others keep
        # theirs: under average linkage a merged cluster is never more alike to a third than both its parts.
        again = alive & ((partner == i) | (partner == j))
        again[i] = True
        look_again(np.flatnonzero(again))
    return alive


def _longest_turn(seconds: np.ndarray) -> int:
    """The longest run of consecutive seconds in a sorted array of seconds."""
    if len(seconds) == 0:
        return 0
    breaks = np.flatnonzero(np.diff(seconds) != 1)
    edges = np.concatenate([[-1], breaks, [len(seconds) - 1]])
    return int(np.diff(edges).max())


def speaker_id(index: int) -> str:
    return f"S{index + 1}"


# ---- per second --------------------------------------------------------------------------------


def analyze_speakers(
    audio_path: Path | None,
    duration_s: float,
    speech: dict[int, tuple[float, float | None, bool]],
    encoder: SpeakerEncoder | None = None,
    min_speech: float = MIN_SPEECH,
    progress: Say | None = None,
) -> tuple[list[Event], dict]:
    """Per analysed second a `speakers` event: [speaker id] where the voice activity detector heard speech
    (`speech`: second -> (voiced share, its confidence, derived)), [] elsewhere with the detector's
    confidence. Seconds the detector did not analyse are not analysed here either. Also returns a summary
    (speakers found, seconds per speaker) for the asset's metadata."""
    spans = per_second_spans(duration_s)
    if audio_path is None:
        derived = {DERIVED: "no audio stream"}
        return [Event(a, b, ASPECT, [], source=SOURCE, detail=derived) for _, a, b in spans], {"speakers": 0}
    voiced = [s for s, _, _ in spans if s in speech and speech[s][0] >= min_speech and not speech[s][2]]
    labels, confidence = np.zeros(0, int), np.zeros(0)
    if voiced:
        encoder = encoder or load_encoder()
        report = Progress(progress, "embedding voices", duration_s)
        embeddings = np.concatenate(list(_voiced_embeddings(encoder, audio_path, voiced, report)))
        labels, confidence = cluster_speakers(embeddings, np.asarray(voiced))
    found = {s: (int(k), float(p)) for s, k, p in zip(voiced, labels, confidence)}
    events = []
    for s, start, end in spans:
        if s not in speech:
            continue  # not analysed by the voice activity detector (lost audio)
        _, sure, derived = speech[s]
        if s in found:
            k, p = found[s]
            events.append(Event(start, end, ASPECT, [speaker_id(k)], round(p, 4), SOURCE))
        elif derived:
            events.append(Event(start, end, ASPECT, [], source=SOURCE, detail={DERIVED: "no audio at this time"}))
        else:
            events.append(Event(start, end, ASPECT, [], None if sure is None else round(sure, 4), SOURCE))
    seconds = {speaker_id(k): int(np.sum(labels == k)) for k in range(int(labels.max()) + 1)} if len(labels) else {}
    return events, {"speakers": len(seconds), "seconds_per_speaker": seconds}


def _voiced_embeddings(
    encoder: SpeakerEncoder, audio_path: Path, voiced: list[int], report: Progress
) -> Iterator[np.ndarray]:
    """The embeddings of the voiced seconds (sorted), one stored chunk of audio at a time."""
    for window in iter_audio_windows(audio_path, CHUNK_S, PAD_S):
        here = voiced[bisect.bisect_left(voiced, window.keep_from) : bisect.bisect_left(voiced, window.keep_to)]
        if here:
            yield _second_embeddings(encoder, window.pcm, [float(s - window.start_s) for s in here])
        report.at(window.keep_to)


def _second_embeddings(encoder: SpeakerEncoder, pcm: np.ndarray, starts: list[float]) -> np.ndarray:
    """One embedding per second starting at `starts`: the normalised mean of its windows' embeddings."""
    parts = [encoder.embed(window_features(pcm, [start + offset for start in starts])) for offset in OFFSETS_S]
    return _unit(np.mean(parts, axis=0))


def speech_by_second(vad_events: list[Event]) -> dict[int, tuple[float, float | None, bool]]:
    """second -> (voiced share, confidence, derived) from the audio analyzer's `speech` events."""
    return {
        int(math.floor(e.start_s + 1e-6)): (float(e.value), e.confidence, bool(e.detail and DERIVED in e.detail))
        for e in vad_events
        if e.aspect == "speech"
    }


def attach_speakers(transcript_events: list[Event], speaker_events: list[Event]) -> list[Event]:
    """The transcript's per-second events with the speaker ids of their second in detail["speakers"]
    and on each word (`_word_speaker`)."""
    by_second = {int(math.floor(e.start_s + 1e-6)): e.value for e in speaker_events if e.aspect == ASPECT}
    out = []
    for e in transcript_events:
        if e.aspect != "transcript" or not isinstance(e.detail, dict):
            out.append(e)
            continue
        detail = dict(e.detail)
        detail["speakers"] = by_second.get(int(math.floor(e.start_s + 1e-6)))
        for key in ("words", "unclear"):
            detail[key] = [{**w, "speaker": _word_speaker(w, by_second)} for w in detail.get(key, [])]
        out.append(Event(e.start_s, e.end_s, e.aspect, e.value, e.confidence, e.source, detail))
    return out


def _word_speaker(word: dict, by_second: dict[int, list[str]]) -> str | None:
    """The speaker of the second the word's midpoint falls in; where that second has none (a word at the
    edge of a mostly silent second), that of another second the word overlaps; None if no second has one."""
    middle = int((word["start"] + word["end"]) / 2)
    seconds = [middle] + [s for s in range(int(word["start"]), int(math.ceil(word["end"]))) if s != middle]
    return next((by_second[s][0] for s in seconds if by_second.get(s)), None)
