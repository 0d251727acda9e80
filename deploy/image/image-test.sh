#!/usr/bin/env bash
# `make image-test`: start the whole stack of deploy/compose.yaml from the tollgate image (TLS
# with a throwaway certificate), issue a key, and make an API call through nginx over HTTPS.
# PostgreSQL and Redis come from the official images, or, where no registry is reachable (as on
# CI), from stand-ins built from Debian's packages (deploy/image/standins/).
set -euo pipefail
cd "$(dirname "$0")/../.."

project=tollgate-imagetest-$$
work=$(mktemp -d /tmp/tollgate-imagetest.XXXXXX)
compose=(podman-compose -p "$project" -f "$work/compose.yaml" -f "$work/compose.test.yaml")
tls_volume=${project}_tls
cleanup() {
  "${compose[@]}" down -v >/dev/null 2>&1 || true
  podman network rm -f "${project}_default" >/dev/null 2>&1 || true
  podman volume rm -f "$tls_volume" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

for standin in postgres redis; do
  podman image exists "localhost/tollgate-standin-$standin" || podman build -q \
    -t "localhost/tollgate-standin-$standin" -f "deploy/image/standins/$standin.Containerfile" \
    deploy/image/standins >/dev/null
done
export POSTGRES_IMAGE=${POSTGRES_IMAGE:-localhost/tollgate-standin-postgres}
export REDIS_IMAGE=${REDIS_IMAGE:-localhost/tollgate-standin-redis}
read -r https_port http_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
export GATEWAY_HTTPS_PORT=$https_port GATEWAY_HTTP_PORT=$http_port

cp deploy/compose.yaml "$work/"
mkdir -p "$work/secrets" "$work/tls"
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
echo "$password" > "$work/secrets/postgres_password"
mkdir -p "$work/secrets/entitlement"
openssl genpkey -algorithm ed25519 -out "$work/secrets/entitlement/signing_key.pem" 2>/dev/null
chmod 0777 "$work/secrets/entitlement"  # the image's user reads it (and a rotation writes)
chmod 0644 "$work/secrets/entitlement/signing_key.pem"  # a throwaway key
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost \
  -keyout "$work/tls/privkey.pem" -out "$work/tls/fullchain.pem" 2>/dev/null
chmod 0644 "$work/tls/privkey.pem"  # read by the image's non-root user; a throwaway key
cat > "$work/compose.env" <<ENV
SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')
APIKEY_PEPPER=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')
ENTITLEMENT_SIGNING_KEY_FILE=/run/tollgate/entitlement/signing_key.pem
SITE_URL=https://localhost:$https_port
# portal: the demo API fetches the JWKS from the portal's container (docs/entitlements.md).
ALLOWED_HOSTS=localhost,portal
DATABASE_URL=postgres://tollgate:$password@postgres:5432/tollgate
REDIS_URL=redis://redis:6379/0
STRIPE_SECRET_KEY=sk_test_image_test
STRIPE_WEBHOOK_SECRET=whsec_image_test
TRUSTED_PROXY_COUNT=1
LOG_FORMAT=json
METRICS_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')
# No mail server here: every email goes to the containers' logs.
EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend
AUTH_SOCKET=/run/tollgate-auth/auth.sock
NGINX_AUTH=unix:/run/tollgate-auth/auth.sock
NGINX_MOCK=mock:8082
NGINX_PORTAL=portal:8000
NGINX_LISTEN=0.0.0.0:8443
NGINX_HTTP_LISTEN=0.0.0.0:8080
GATEWAY_TLS_CERTIFICATE=/etc/tollgate/tls/fullchain.pem
GATEWAY_TLS_CERTIFICATE_KEY=/etc/tollgate/tls/privkey.pem
ENV
# The test's addition: the bundled demo API, as the demo product's upstream.
cat > "$work/compose.test.yaml" <<YAML
services:
  demo-api:
    image: \${TOLLGATE_IMAGE:-localhost/tollgate:latest}
    env_file: compose.env
    entrypoint: ["granian", "--interface", "wsgi", "--host", "0.0.0.0", "--port", "8081",
                 "--no-ws", "gateway.demo_api:application"]
    environment:
      DEMO_API_JWKS_URL: http://portal:8000/.well-known/jwks.json
YAML
# The certificate goes into the stack's tls volume, as an operator would put theirs.
podman volume create "$tls_volume" >/dev/null
podman run --rm -v "$tls_volume:/tls" -v "$work/tls:/src:ro" --entrypoint sh \
  "${TOLLGATE_IMAGE:-localhost/tollgate:latest}" -c 'cp /src/* /tls/' 2>/dev/null \
  || podman run --rm --user root -v "$tls_volume:/tls" -v "$work/tls:/src:ro" --entrypoint sh \
  "${TOLLGATE_IMAGE:-localhost/tollgate:latest}" -c 'cp /src/* /tls/ && chmod 0644 /tls/*'

step() { echo "image-test: $*"; }
wait_until() {  # SECONDS WHAT COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then echo "image-test: timed out waiting for $what" >&2; return 1; fi
    sleep 1
  done
}
step "PostgreSQL and Redis"
"${compose[@]}" up -d postgres redis >/dev/null 2>&1
wait_until 60 postgres podman exec "${project}_postgres_1" pg_isready -U tollgate -d tollgate -h 127.0.0.1
wait_until 30 redis podman exec "${project}_redis_1" redis-cli ping
step "migrate, the demo catalog, an account and its key"
"${compose[@]}" run -T --rm migrate >"$work/migrate.log" 2>&1 || { tail -20 "$work/migrate.log"; exit 1; }
"${compose[@]}" run -T --rm migrate apply_catalog deploy/demo/catalog.toml >"$work/setup.log" 2>&1
"${compose[@]}" run -T --rm migrate shell -c "
from accounts.models import Account, User
from catalog.models import ApiProduct
ApiProduct.objects.filter(slug='demo').update(upstream_url='http://demo-api:8081')
Account.objects.create_with_owner('Image test', User.objects.create_user('image@example.com', 'x'))
" >>"$work/setup.log" 2>&1
step "portal, auth, mock, worker, beat, collector, demo API and nginx"
"${compose[@]}" up -d >/dev/null 2>&1
key=$(podman exec "${project}_portal_1" python manage.py issue_key --account image@example.com \
  2>>"$work/setup.log" | grep -E '^tg_live_' || true)
[ -n "$key" ] || { tail -30 "$work/setup.log"; echo "image-test: no key was issued" >&2; exit 1; }
wait_until 90 "nginx over HTTPS" curl -sf --cacert "$work/tls/fullchain.pem" \
  "https://localhost:$https_port/livez"
status=$(curl -s -o "$work/answer" -w '%{http_code}' --cacert "$work/tls/fullchain.pem" \
  -H "Authorization: Bearer $key" "https://localhost:$https_port/demo/hello")
step "GET /demo/hello with the key over HTTPS: $status $(cat "$work/answer")"
# A test key on the demo product (test_route = "mock"): the mock answers from the spec.
test_key=$(podman exec "${project}_portal_1" python manage.py issue_key --account image@example.com \
  --env test 2>>"$work/setup.log" | grep -E '^tg_test_' || true)
sandbox=$(curl -s -D "$work/sandbox-headers" -o "$work/sandbox-answer" -w '%{http_code}' \
  --cacert "$work/tls/fullchain.pem" -H "Authorization: Bearer $test_key" \
  "https://localhost:$https_port/demo/hello")
step "GET /demo/hello with a test key: $sandbox $(grep -i '^tollgate-environment' "$work/sandbox-headers")"
grep -qi '^tollgate-environment: mock' "$work/sandbox-headers" || sandbox="not the mock"
probe=$(curl -s -o /dev/null -w '%{http_code}' "http://localhost:$http_port/readyz")
step "GET /readyz over plain HTTP: $probe"
# nginx reached the auth server on its unix socket (it listens on nothing else here); so does
# the auth container's health check (python -m gateway.probe).
health=healthy
podman healthcheck run "${project}_auth_1" >/dev/null 2>&1 || health=unhealthy
step "the auth container's health check: $health"
[ "$status" = 200 ] && [ "$sandbox" = 200 ] && [ "$probe" = 200 ] && [ "$health" = healthy ] || { "${compose[@]}" logs --tail 30 >&2 || true; exit 1; }
step "passed"
