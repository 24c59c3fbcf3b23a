"""gunicorn settings for the web app (systemd: deploy/systemd/repairdesk-web.service).

Sync workers: nginx buffers each upload completely before passing it on
(proxy_request_buffering on), so a slow phone never holds a worker.
"""

import multiprocessing
import os

wsgi_app = "repair:create_app()"
bind = os.environ.get("REPAIRDESK_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = 30
graceful_timeout = 30
keepalive = 5
# Workers are recycled now and then, so a slow leak never grows without bound.
max_requests = 2000
max_requests_jitter = 200
# Only nginx on this machine may set X-Forwarded-*; the app's ProxyFix
# (REPAIRDESK_TRUSTED_PROXIES=1) reads them.
forwarded_allow_ips = "127.0.0.1"
# The app logs one line per request itself (REPAIRDESK_LOG_FORMAT=json).
accesslog = None
errorlog = "-"
loglevel = "info"
# Each worker builds its own app: no database or Redis connection crosses a fork.
preload_app = False


def child_exit(server, worker):
    """Lets prometheus-client's multiprocess mode forget a dead worker's gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
