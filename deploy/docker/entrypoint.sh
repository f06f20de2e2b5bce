#!/bin/sh
# Container entrypoint: check secrets, then become the given command (PID 1 gets SIGTERM).
set -eu
/usr/local/bin/check-secrets.sh
exec "$@"
