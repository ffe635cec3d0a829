#!/bin/sh
# The orchestrator container: serve $PARLEY_STACK on $PARLEY_BIND:$PARLEY_PORT over HTTPS.
# Browsers give a page the microphone only over HTTPS, so off loopback parley requires a certificate.
# Mount yours at /run/parley/tls (cert.pem, key.pem); without one, a self-signed certificate for
# $PARLEY_PUBLIC_HOST is made once and kept in the tls volume (browsers warn until it is trusted).
set -eu

stack=${PARLEY_STACK:-configs/cpu.yaml}
tls=${PARLEY_TLS_DIR:-/run/parley/tls}
public_host=${PARLEY_PUBLIC_HOST:-localhost}

if [ ! -s "$tls/cert.pem" ] || [ ! -s "$tls/key.pem" ]; then
  mkdir -p "$tls"
  case "$public_host" in
    *[!0-9.]*) san="DNS:$public_host" ;;
    *) san="IP:$public_host" ;;
  esac
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$public_host" \
    -addext "subjectAltName=$san,DNS:localhost,IP:127.0.0.1" \
    -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null
  echo "parley: made a self-signed certificate for $public_host in $tls" >&2
fi

python deploy/orchestrator/container_config.py "$stack" /run/parley/stack.yaml \
  --host "${PARLEY_BIND:-0.0.0.0}" --port "${PARLEY_PORT:-8443}" \
  --tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem"
export PARLEY_CONFIG=/run/parley/stack.yaml
exec "$@"
