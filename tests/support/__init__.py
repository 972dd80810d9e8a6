"""What several test modules share: the project's paths, running the DAG, the fault table and
the independent daily_brief reference."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
# Debian's Chromium for the browser tests (playwright drives it; it never downloads one). Without
# the background-networking flags it keeps reaching for the network this machine does not have.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
