"""The LiteLLM proxy as one more target of tests/bench/test_gateway_bench.py.

`make litellm-venv` builds var/litellm-venv; STUDIO_BENCH_LITELLM may point at another
`litellm` executable instead. The proxy runs as LiteLLM documents its simplest deployment:
uvicorn with one worker, a config file, a master key and no database, so each request is
authenticated against the master key, routed and forwarded, with no spend written anywhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.bench.test_api_bench import free_port, process_tree_cpu
from tests.worker import ROOT, stop_process

LITELLM_VENV = ROOT / "var" / "litellm-venv"
MODEL = "bench-gpt"

# LiteLLM fetches its model price map, release notes and the like from GitHub at start-up
# unless told not to; with no network here each fetch would retry for seconds and the timings
# would include none of it anyway. Telemetry is gone from 1.109 (`--telemetry` is a no-op),
# so nothing else phones home; the Hugging Face flags keep its tokenizers off the hub.
OFFLINE_ENV = {
    "LITELLM_OFFLINE_MODE": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_DISABLE_LATEST_RELEASE_CHECK": "true",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "true",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    # Studio's gunicorn logs at warning level too: an access line per request is CPU neither pays.
    "LITELLM_LOG": "WARNING",
}


@dataclass
class LiteLLMProxy:
    process: subprocess.Popen[bytes]
    port: int
    master_key: str
    version: str

    def snapshot(self) -> dict[str, float]:
        return {"proxy": process_tree_cpu(self.process.pid)}


def litellm_executable() -> Path | None:
    configured = os.environ.get("STUDIO_BENCH_LITELLM")
    path = Path(configured) if configured else LITELLM_VENV / "bin" / "litellm"
    return path if path.exists() else None


def installed_version(executable: Path) -> str:
    # Read beside the executable rather than by running it: `litellm --version` imports the SDK (seconds).
    found = sorted(executable.resolve().parent.parent.glob("lib/python*/site-packages/litellm-*.dist-info"))
    return found[-1].name.removeprefix("litellm-").removesuffix(".dist-info") if found else "unknown version"


@contextmanager
def running_litellm(
    executable: Path, provider_url: str, provider_key: str, remote_model: str
) -> Iterator[LiteLLMProxy]:
    """The proxy on a free port, with one model routed to the OpenAI-shaped fake at `provider_url`."""
    master_key = f"sk-bench-{secrets.token_hex(16)}"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-litellm-") as tmp:
        workdir = Path(tmp)
        config = {
            "model_list": [
                {
                    "model_name": MODEL,
                    "litellm_params": {
                        "model": f"openai/{remote_model}",
                        "api_base": f"{provider_url}/v1",
                        "api_key": provider_key,
                    },
                }
            ],
            "general_settings": {"master_key": master_key},
        }
        # JSON is YAML: PyYAML reaches the project's virtualenv only through dev tools' dependencies.
        (workdir / "config.yaml").write_text(json.dumps(config, indent=2))
        # Built from nothing rather than from os.environ: the test run's DATABASE_URL or
        # REDIS_URL would make LiteLLM set up Prisma or a Redis cache the benchmark is not about.
        env = {
            "PATH": f"{executable.parent}:/usr/bin:/bin",
            "HOME": tmp,
            "TMPDIR": tmp,
            "LANG": "C.UTF-8",
            **OFFLINE_ENV,
        }
        log_path = workdir / "proxy.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [
                    str(executable),
                    "--config",
                    str(workdir / "config.yaml"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--num_workers",
                    "1",
                ],
                cwd=tmp,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_for_proxy(process, port, log_path)
                yield LiteLLMProxy(process, port, master_key, installed_version(executable))
            finally:
                stop_process(process)


def wait_for_proxy(process: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float = 120) -> None:
    # Importing the SDK and the proxy takes 10-20 s on this machine.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(httpx.HTTPError):  # not listening yet
            if httpx.get(f"http://127.0.0.1:{port}/health/liveliness", timeout=2).status_code == 200:
                return
        time.sleep(0.25)
    tail = log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the LiteLLM proxy did not start (exit code {process.poll()}):\n{tail}")
