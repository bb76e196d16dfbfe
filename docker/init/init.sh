#!/bin/sh
# Runs once before the stack (compose service "init"), as root in the hub image:
# 1. refuses to start with an empty or example secret (change-me-*) from .env.example;
# 2. makes the stack's certificates when none are there: a private CA, the hub's certificate
#    (mqtts and HTTPS; names: hub, localhost, 127.0.0.1 and TLS_HOSTNAMES) and PostgreSQL's
#    (name postgres, verified with sslmode=verify-full). To use your own certificates, put
#    ca.pem, hub.pem, hub.key, postgres.pem and postgres.key in the certs volume first.
# Gateways pin ca.pem (gateway config mqtt.caFile): copy it onto the boxes.
set -eu

fail=0
for name in POSTGRES_PASSWORD POSTGRES_HUB_PASSWORD GRAFANA_PG_ROLE_ADMIN_PASSWORD GRAFANA_ADMIN_PASSWORD \
  VIGIL_MQTT_PASSWORD INFLUX_ADMIN_PASSWORD GRAFANA_SCOPE_KEY VIGIL_SECRET_KEY; do
  eval "value=\${$name:-}"
  case "$value" in
    "" | change-me*)
      echo "SECRET_NOT_SET: $name is empty or still the example value; set it in .env" >&2
      fail=1
      ;;
  esac
done
[ "$fail" -eq 0 ] || exit 1

dir=/certs
if [ ! -f "$dir/ca.pem" ]; then
  cd "$dir"
  umask 077
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=Vigil private CA" -keyout ca.key -out ca.pem
  issue() { # name, subjectAltName
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" -keyout "$1.key" -out "$1.csr"
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$2" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -extfile "$1.ext" -out "$1.pem"
    rm -f "$1.csr" "$1.ext"
  }
  sans="DNS:hub,DNS:localhost,IP:127.0.0.1"
  for h in $(echo "${TLS_HOSTNAMES:-}" | tr ',' ' '); do sans="$sans,DNS:$h"; done
  issue hub "$sans"
  issue postgres "DNS:postgres"
  chmod 0444 ca.pem hub.pem postgres.pem
  chmod 0400 ca.key
fi
# the hub runs as user node (uid 1000), PostgreSQL (alpine) as uid 70: each reads only its own key
chown 1000:1000 "$dir/hub.key" && chmod 0400 "$dir/hub.key"
chown 70:70 "$dir/postgres.key" && chmod 0600 "$dir/postgres.key"
# Grafana's provisioning volume: the hub (uid 1000) writes it, Grafana (uid 472, group 0) reads it;
# setgid keeps the files the hub writes in group 0 (they hold credentials: mode 0640)
prov=/grafana-provisioning
if [ -d "$prov" ]; then
  chown 1000:0 "$prov" && chmod 2750 "$prov"
fi
echo "init: secrets set, certificates in $dir"
