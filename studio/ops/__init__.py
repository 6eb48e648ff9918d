"""Operations: health and readiness, Prometheus metrics, structured logs, worker heartbeats,
the staff status page. Nothing here changes a job, a credit or an image; it only watches."""
