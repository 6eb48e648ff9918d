"""kombu's Redis transport, made to survive losing Redis while messages are unacked.

When the broker connection drops, Celery closes the old connection; closing a channel
restores its unacknowledged messages, and by then the transport has let go of its client,
so kombu 5.7 raises `AttributeError: 'NoneType' object has no attribute 'hostname'`. That
is not a connection error, so Celery treats it as unrecoverable and the worker exits:
one Redis restart stops every worker. Here the lost client is reported as the connection
error it is; Celery then reconnects as it does for any broker outage. The messages it
could not restore are not lost work: their jobs are republished by the job sweep
(`studio.services.jobs.leases.recover_jobs`).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection is already closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
