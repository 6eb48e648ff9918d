"""The guarded, pinned transport webhooks go out through.

A target is resolved first and refused unless every address is global; the connection then
goes to the address that was checked (the URL carries the IP, the Host header and TLS SNI
carry the name), so a DNS answer that changes between check and connect cannot redirect
us. Redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpcore
import httpx

# Standard Webhooks: 15-30 s per request; we connect within 5 s and give up at 15 s.
CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
MAX_RESPONSE_BYTES = 64 * 1024
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)

Resolver = Callable[[str, int], Sequence[str]]


class UnsafeTarget(Exception):
    """A webhook URL we refuse to call; the message says why."""


# -- targets ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower-case name or IP literal, without brackets
    port: int
    path: str  # path and query, as sent

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


def parse_target(url: str) -> Target:
    """Accept only absolute http(s) URLs with a host and no credentials."""
    if not isinstance(url, str) or len(url) > 2000:
        raise UnsafeTarget("The webhook URL must be a string of at most 2000 characters.")
    try:
        parts: SplitResult = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"The webhook URL is malformed: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("The webhook URL must use http or https.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("The webhook URL must not carry credentials.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeTarget("The webhook URL has no host.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(
        scheme=parts.scheme,
        host=host.lower(),
        port=port or (443 if parts.scheme == "https" else 80),
        path=path,
    )


def is_public_address(address: str) -> bool:
    """True only for globally routable unicast addresses (no private, loopback, link-local,
    CGNAT, reserved, multicast or cloud-metadata address, also when wrapped in IPv6)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not is_public_address(str(embedded)):
            return False
    return bool(
        ip.is_global
        and not ip.is_multicast
        and not ip.is_reserved
        and not ip.is_loopback
        and not ip.is_link_local
        and not ip.is_private
        and not ip.is_unspecified
        and ip not in METADATA_ADDRESSES
    )


def system_resolver(host: str, port: int) -> list[str]:
    """Every A and AAAA address of `host`."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTarget(f"The webhook host {host!r} could not be resolved.") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve_public(target: Target, resolver: Resolver) -> str:
    """Return the address to connect to; refuse if any address of the host is not public."""
    try:
        ipaddress.ip_address(target.host)
        addresses: Sequence[str] = [target.host]
    except ValueError:
        addresses = resolver(target.host, target.port)
    if not addresses:
        raise UnsafeTarget(f"The webhook host {target.host!r} has no address.")
    for address in addresses:
        if not is_public_address(address):
            raise UnsafeTarget(f"The webhook host {target.host!r} resolves to a non-public address ({address}).")
    return addresses[0]


def check_webhook_url(url: str, *, resolver: Resolver | None = None) -> Target:
    """Validate a URL at registration time (it is checked again at every attempt)."""
    target = parse_target(url)
    resolve_public(target, resolver or get_sender().resolver)
    return target


# -- sending ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    status_code: int | None = None
    error: str = ""
    retry_after: float | None = None
    refused: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write ends by one wall-clock deadline.

    httpx's timeouts are per operation: a receiver that trickles a byte every few seconds
    (slowloris, in headers or body) would otherwise hold a worker slot indefinitely.
    """

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def _budget(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("the webhook's time budget is spent")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout=self._budget(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout=self._budget(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        budget = self._budget(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, budget), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        left = max(self._deadline - time.monotonic(), 0.001)
        budget = left if timeout is None else min(timeout, left)
        stream = self._inner.connect_tcp(host, port, timeout=budget, local_address=local_address,
                                         socket_options=socket_options)
        return _DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def deadline_transport(*, deadline: float, network: httpcore.NetworkBackend | None = None) -> httpx.HTTPTransport:
    """An httpx transport whose connections all end by `deadline` (a `time.monotonic()`)."""
    transport = httpx.HTTPTransport(trust_env=False, retries=0)
    # httpx takes no network backend; its pool (httpcore's public ConnectionPool) does.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=1,
        retries=0,
        network_backend=_DeadlineBackend(network or httpcore.SyncBackend(), deadline),
    )
    return transport


@dataclass
class WebhookSender:
    """Resolve, check, connect to the checked address, POST, all within `total_timeout`.

    `resolver`, `transport` and `network` are the seams tests inject: a stub DNS, a whole
    transport, or the sockets under the real (deadline-bound) transport.
    """

    resolver: Resolver = system_resolver
    transport: httpx.BaseTransport | None = None
    network: httpcore.NetworkBackend | None = None
    total_timeout: float = TOTAL_TIMEOUT
    max_response_bytes: int = MAX_RESPONSE_BYTES

    def send(self, *, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        try:
            target = parse_target(url)
            address = resolve_public(target, self.resolver)
        except UnsafeTarget as exc:
            return Outcome(error=f"refused: {exc}", refused=True)
        literal = f"[{address}]" if ":" in address else address
        pinned = f"{target.scheme}://{literal}:{target.port}{target.path}"
        extensions: dict[str, Any] = {}
        if target.scheme == "https" and target.host != address:
            extensions["sni_hostname"] = target.host  # TLS is checked against the name
        timeout = httpx.Timeout(self.total_timeout, connect=min(CONNECT_TIMEOUT, self.total_timeout))
        started = time.monotonic()
        deadline = started + self.total_timeout
        transport = self.transport or deadline_transport(deadline=deadline, network=self.network)
        try:
            with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False) as client:
                request = client.build_request(
                    "POST", pinned, content=body, headers={**headers, "host": target.host_header}, extensions=extensions
                )
                response = client.send(request, stream=True)
                # The status line decides the outcome; the body is read only to let the
                # connection end cleanly, and is cut off at the cap or the deadline.
                try:
                    received = 0
                    chunks = () if response.is_stream_consumed else response.iter_raw()
                    for chunk in chunks:
                        received += len(chunk)
                        if received > self.max_response_bytes or time.monotonic() > deadline:
                            break
                except httpx.TimeoutException:
                    pass  # a body trickled past the deadline: the answer's status stands
                finally:
                    response.close()
        except httpx.TimeoutException:
            return Outcome(error="timed out")
        except httpx.HTTPError as exc:
            return Outcome(error=f"connection failed: {type(exc).__name__}")
        retry_after = _retry_after(response.headers.get("retry-after"))
        error = ""
        if 300 <= response.status_code < 400:
            error = "redirects are not followed"
        elif not 200 <= response.status_code < 300:
            error = f"answered HTTP {response.status_code}"
        return Outcome(status_code=response.status_code, error=error, retry_after=retry_after)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def get_sender() -> WebhookSender:
    """The sender deliveries use; tests monkeypatch this."""
    return WebhookSender()
