from dagster import DynamicPartitionsDefinition

# One partition per source video; keys come from analyzers.keys.partition_key.
videos = DynamicPartitionsDefinition(name="videos")
