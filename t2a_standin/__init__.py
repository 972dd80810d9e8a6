"""Stand-in for the ERP's T2A query API: synthetic data (`data`) served over HTTP (`server`).

Used by the demo and the tests; a real deployment points the `t2a_api` connection at the
real service instead.
"""

from t2a_standin.data import PRESETS, DataConfig, Dataset, preset
from t2a_standin.server import RunningStandin, make_server, serve_in_thread

__all__ = ["PRESETS", "DataConfig", "Dataset", "RunningStandin", "make_server", "preset", "serve_in_thread"]
