"""``crps-qa`` with the fake embedder in place of the real model, for tests that start a real server.

CRPS_QA_MODEL=fake python tests/fake_serve.py serve --port 8123 --index /tmp/idx
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from crps_qa import cli  # noqa: E402
from crps_qa.index import embed  # noqa: E402
from fakes import FakeEmbedder  # noqa: E402

embed.load_embedder = lambda name="fake", **_: FakeEmbedder(name)

if __name__ == "__main__":
    cli.main()
