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

if [ "${PARLEY_BEHIND_PROXY:-0}" = 1 ]; then
  # The scale profile: deploy/proxy terminates TLS (with the certificate above) and forwards here.
  # The orchestrators share a token secret (a link one issued works on the other): made once, by
  # whichever starts first, in the tls volume they share, unless PARLEY_TOKEN_SECRET is given.
  if [ -z "${PARLEY_TOKEN_SECRET:-}" ]; then
    if [ ! -s "$tls/token_secret" ]; then
      (umask 077; head -c 32 /dev/urandom | base64 > "$tls/token_secret.$$")
      mv -n "$tls/token_secret.$$" "$tls/token_secret"; rm -f "$tls/token_secret.$$"
    fi
    PARLEY_TOKEN_SECRET=$(cat "$tls/token_secret")
    export PARLEY_TOKEN_SECRET
  fi
  python deploy/orchestrator/container_config.py "$stack" /run/parley/stack.yaml \
    --behind-proxy --port "${PARLEY_PORT:-8444}" --node "${PARLEY_NODE:?name this orchestrator (a, b)}"
else
  python deploy/orchestrator/container_config.py "$stack" /run/parley/stack.yaml \
    --host "${PARLEY_BIND:-0.0.0.0}" --port "${PARLEY_PORT:-8443}" \
    --tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem"
fi
export PARLEY_CONFIG=/run/parley/stack.yaml
exec "$@"
