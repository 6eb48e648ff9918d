"""Every outbound provider call carries a connect and a read timeout: without one, a provider
that stops answering holds a worker slot for ever.

The guard wraps `httpx.Client.build_request`, through which every `request`, `stream`, `get`
and `post` passes, and refuses a call that leaves the timeout to the client's default or
sets it to None. `test_every_adapter_call_passes_a_timeout` re-runs the adapters' own
respx suite (tests/providers/backends: happy paths, refusals, errors, rate limits, polling,
downloads, streaming) with this module loaded as a plugin, so every call any adapter makes
there is checked, and the report shows which adapters were exercised.

Kept free of Django imports at module level: as a plugin it loads before Django is set up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORT_ENV = "STUDIO_TIMEOUT_GUARD_REPORT"
ADAPTER_MODULES = frozenset(
    {"openai", "xai", "recraft", "ark", "gemini", "bfl", "ideogram", "luma", "leonardo", "stability"}
    | {"replicate", "fal", "dashscope", "aggregator"}
)
_calls: list[dict[str, Any]] = []
SHARED = frozenset({"base", "openai_compat"})


def timeout_problem(timeout: Any) -> str | None:
    """Why `timeout` (as passed to httpx) is not a real connect + read timeout, or None."""
    if timeout is httpx.USE_CLIENT_DEFAULT:
        return "no timeout passed: the call relies on the client's default"
    if timeout is None:
        return "timeout=None: the call may wait forever"
    limits = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
    missing = [name for name in ("connect", "read") if getattr(limits, name) is None]
    return f"no {' or '.join(missing)} timeout" if missing else None


def calling_adapter() -> str:
    """The vendor module (openai, bfl, ...) that made the call."""
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        name = module.rsplit(".", 1)[-1]
        # base, openai_compat and the _kit modules are plumbing the vendor modules call into.
        if module.startswith("providers.backends.") and name not in SHARED and not name.startswith("_"):
            return name
        frame = frame.f_back
    return "other"


@contextmanager
def timeout_guard(calls: list[dict[str, Any]]) -> Iterator[None]:
    original = httpx.Client.build_request

    def guarded(self: httpx.Client, method: str, url: Any, **kwargs: Any) -> httpx.Request:
        problem = timeout_problem(kwargs.get("timeout", httpx.USE_CLIENT_DEFAULT))
        calls.append({"adapter": calling_adapter(), "method": method, "url": str(url), "problem": problem})
        if problem:
            raise AssertionError(f"{method} {url}: {problem} (every provider call needs a timeout)")
        return original(self, method, url, **kwargs)

    httpx.Client.build_request = guarded  # type: ignore[method-assign]
    try:
        yield
    finally:
        httpx.Client.build_request = original  # type: ignore[method-assign]


# -- plugin mode: `pytest -p tests.providers.test_timeouts` with REPORT_ENV set ----------------
@pytest.fixture(autouse=True)
def _guard_every_call() -> Iterator[None]:
    if not os.environ.get(REPORT_ENV):
        yield
        return
    with timeout_guard(_calls):
        yield


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    report = os.environ.get(REPORT_ENV)
    if report:
        Path(report).write_text(json.dumps(_calls))


# -- the tests ------------------------------------------------------------------------------
def test_every_adapter_call_passes_a_timeout(tmp_path: Path) -> None:
    report = tmp_path / "calls.json"
    run = subprocess.run(
        [
            sys.executable, "-m", "pytest", "tests/providers/backends", "-q", "-x",
            "-p", "tests.providers.test_timeouts", "-p", "no:cacheprovider",
        ],
        cwd=ROOT,
        env={**os.environ, REPORT_ENV: str(report)},
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    calls = json.loads(report.read_text())
    assert [c for c in calls if c["problem"]] == []
    exercised = {c["adapter"] for c in calls}
    assert exercised >= ADAPTER_MODULES, f"adapters never called: {sorted(ADAPTER_MODULES - exercised)}"
    assert len(calls) > 100


def test_the_guard_refuses_calls_without_a_real_timeout() -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(204)))
    calls: list[dict[str, Any]] = []
    with timeout_guard(calls):
        assert client.get("http://provider.test/a", timeout=httpx.Timeout(30, connect=5)).status_code == 204
        assert client.post("http://provider.test/b", timeout=12.5).status_code == 204
        with pytest.raises(AssertionError, match="client's default"):
            client.get("http://provider.test/c")
        with pytest.raises(AssertionError, match="timeout=None"):
            client.get("http://provider.test/d", timeout=None)
        with pytest.raises(AssertionError, match="no read timeout"):
            with client.stream("GET", "http://provider.test/e", timeout=httpx.Timeout(None, connect=5)):
                pass
    assert [c["problem"] is None for c in calls] == [True, True, False, False, False]
    assert httpx.Client.build_request.__name__ == "build_request"  # restored
