"""gunicorn's settings for the API, read from the current directory: `cd app && gunicorn`.

The production image starts in app/, so `docker run -p 8080:8080 IMAGE gunicorn` serves.
"""

import os

wsgi_app = "server:create_app()"
bind = f"0.0.0.0:{os.environ.get('PORT', '8080')}"
# One process: each worker would load its own copy of the model. The app runs one prediction at
# a time and queues the others while they would wait at most MAX_QUEUE_SECONDS; a queued request
# holds a thread. More threads than a burst has clients (README measures 64), so that queued
# requests wait in the app, where admission sees them, and /health and /ready always find a
# thread. A waiting thread costs little memory.
workers = 1
threads = int(os.environ.get("THREADS", "96"))
# The model loads before the worker answers its first request: give it time on a slow disk.
timeout = 120
# An idle keep-alive connection stays open this long (gunicorn's default is 2 s). Whichever side
# closes an idle connection can race a request just sent on it, which then fails without an
# answer: a client pausing 2 s between requests met that in a soak. Longer than a load balancer's
# idle timeout (60 s for most); an idle connection costs a file descriptor, not a thread.
keepalive = 75
# The worker's heartbeat file goes to memory, so the root filesystem can be read-only.
worker_tmp_dir = "/dev/shm"
# One line per request on stdout, next to the app's own log on stderr.
accesslog = "-"
# `docker stop` sends SIGTERM and kills 10 s later: finish the requests in flight well before.
graceful_timeout = 5
# No control socket for `gunicornc` (gunicorn >= 25 makes one under $HOME, read-only in our images).
control_socket_disable = True
