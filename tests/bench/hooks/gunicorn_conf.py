"""gunicorn config for the gateway benchmark: count SQL statements per worker (bench_counting)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_counting

bench_counting.install()


def post_request(worker, req, environ, resp):
    bench_counting.dump()
