"""Parquet per asset and partition under the data root, always written atomically (temp + rename)."""

import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from dagster import ConfigurableIOManager, InputContext, OutputContext, ResourceDependency

from analyzers.timeline import timeline_table
from resources.storage import TimelineStorage
from video_assets.names import FILE_STORAGE, OPTIONAL_INPUT

# FILE_STORAGE assets' value is a file the asset streamed itself (frames, audio): the IO manager moves
# the finished temp file into place and hands downstream assets its path, not its content.
# Tables with a contract: written with its column types, whatever this video's values are (pandas would
# store a column of empty lists as list<null>, and every video's file would differ).
CONTRACT_TABLES = {"timeline": timeline_table}


class ParquetIOManager(ConfigurableIOManager):
    storage: ResourceDependency[TimelineStorage]

    def _path(self, context: InputContext | OutputContext) -> Path:
        return self.storage.asset_path(context.asset_key.path[-1], context.asset_partition_key)

    def handle_output(self, context: OutputContext, obj) -> None:
        final = self._path(context)
        if obj is None:  # e.g. a video without audio: nothing to store, remove a stale value
            final.unlink(missing_ok=True)
            return
        if isinstance(obj, Path):
            os.replace(obj, final)
        elif isinstance(obj, pd.DataFrame):
            name = context.asset_key.path[-1]
            tmp = self.storage.temp_path(name, context.asset_partition_key)
            try:
                if name in CONTRACT_TABLES:
                    pq.write_table(CONTRACT_TABLES[name](obj), tmp)
                else:
                    obj.to_parquet(tmp, index=False)
                os.replace(tmp, final)
            finally:
                tmp.unlink(missing_ok=True)
            context.add_output_metadata({"rows": len(obj)})
        else:
            raise TypeError(f"{context.asset_key.to_user_string()}: cannot store a {type(obj).__name__}")
        context.add_output_metadata({"path": str(final), "bytes": final.stat().st_size})

    def load_input(self, context: InputContext):
        path = self._path(context)
        if (context.upstream_output.definition_metadata or {}).get(FILE_STORAGE):
            return path if path.exists() else None
        if not path.exists() and (context.definition_metadata or {}).get(OPTIONAL_INPUT):
            return None  # an optional input whose asset was not materialized (left out of a run's selection)
        if not path.exists():
            raise FileNotFoundError(
                f"{context.asset_key.to_user_string()} has no stored value for "
                f"partition {context.asset_partition_key!r} at {path}; materialize it first"
            )
        return pd.read_parquet(path)
