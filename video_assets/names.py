"""Names the code location shares: the job, asset groups (one per pipeline stage), tags, metadata keys."""

ANALYZE_JOB = "analyze_video"

# Asset groups: the pipeline's stages, in order.
DECODE_GROUP = "decode"
VISUAL_GROUP = "visual"
AUDIO_GROUP = "audio"
TEXT_FACES_GROUP = "text_faces"
DESCRIPTIONS_GROUP = "descriptions"
TIMELINE_GROUP = "timeline"

# Asset metadata: the timeline aspects (contract columns) an event asset fills.
ASPECTS_KEY = "video_timeline/aspects"
# Asset metadata: the asset's value is a file it streamed itself; the IO manager moves it into place.
FILE_STORAGE = "video_timeline/file"
# Input metadata (AssetIn): the input may be missing (its asset left out of the run); it then loads as None.
OPTIONAL_INPUT = "video_timeline/optional"
# video_probe's metadata: the SHA-256 of the source file's content it analysed.
CONTENT_SHA256 = "content_sha256"

# Tags.
HEAVY_TAG = "video_timeline/heavy"  # on heavy-model assets: the models.toml section they run
SOURCE_TAG = "video_timeline/source"  # on runs: what started them (inbox, retry)
ATTEMPT_TAG = "video_timeline/attempt"
RETRY_OF_TAG = "video_timeline/retry_of"
BACKFILL_TAG = "video_timeline/backfill"
PARTITION_TAG = "dagster/partition"  # Dagster's own tag for a run's partition

# The decode stage's per-second record of how much of the video decoded and how visible it is.
VIDEO_QUALITY = "video_quality"

# The timeline asset and its checks.
TIMELINE_ASSET = "timeline"
SCORE_CHECK = "reconstruction_score"
DENSITY_CHECK = "timeline_dense"
