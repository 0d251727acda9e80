#!/bin/sh
# The image's entrypoint: the first argument names the role (docs/operations.md).
set -eu
role=${1:-portal}
[ $# -gt 0 ] && shift
case "$role" in
  portal)
    exec granian --interface wsgi --host 0.0.0.0 --port "${PORTAL_PORT:-8000}" \
      --workers "${PORTAL_WORKERS:-2}" --blocking-threads "${PORTAL_THREADS:-8}" --no-ws \
      portal.wsgi:application ;;
  auth)
    # AUTH_SOCKET set: a unix socket, in a volume nginx's container shares (compose.yaml);
    # empty or unset: TCP on AUTH_PORT, for an nginx elsewhere. The health check asks either
    # (python -m gateway.probe).
    exec python -m gateway.server --host 0.0.0.0 --port "${AUTH_PORT:-8002}" \
      --unix "${AUTH_SOCKET:-}" --workers "${AUTH_WORKERS:-2}" --threads "${AUTH_THREADS:-4}" ;;
  mock)
    # The mock server test keys of `mock` products reach through nginx (docs/sandbox.md).
    exec granian --interface asgi --host 0.0.0.0 --port "${MOCK_PORT:-8082}" \
      --workers "${MOCK_WORKERS:-1}" --no-ws sandbox.server:application ;;
  worker)
    exec celery -A portal worker -l info --concurrency "${WORKER_CONCURRENCY:-2}" ;;
  beat)
    exec celery -A portal beat -l info -s "${TOLLGATE_VAR_DIR}/celerybeat-schedule" ;;
  collector)
    exec python manage.py collect_gateway_logs --follow ;;
  nginx)
    run_dir="${TOLLGATE_VAR_DIR}/nginx"
    python manage.py gateway_config --run-dir "$run_dir" --listen "${NGINX_LISTEN:-0.0.0.0:8443}" \
      ${NGINX_HTTP_LISTEN:+--http-listen "$NGINX_HTTP_LISTEN"} \
      --auth "${NGINX_AUTH:-auth:8002}" --portal "${NGINX_PORTAL:-portal:8000}" \
      --mock "${NGINX_MOCK:-mock:8082}" \
      --workers "${NGINX_WORKERS:-auto}" "$@" >/dev/null
    exec nginx -p "$run_dir" -c "$run_dir/nginx.conf" -e stderr -g 'daemon off;' ;;
  migrate)
    exec python manage.py migrate --noinput ;;
  *)
    exec python manage.py "$role" "$@" ;;
esac
