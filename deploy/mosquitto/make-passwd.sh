#!/bin/sh
# Build Mosquitto's hashed password file from the environment (and an optional device list).
#
#   MQTT_INGEST_PASSWORD      password of the `ingest` user            (required)
#   MQTT_API_PASSWORD         password of the `api` user               (optional)
#   MQTT_SIMULATOR_PASSWORD   password of the demo `simulator` user    (optional)
#   DEVICES_FILE              plain `device_id:password` lines, one per device (optional;
#                             default /mosquitto/devices/devices.txt if it exists)
#   DEVICES_HASHED_FILE       `device_id:<hash>` lines already made by mosquitto_passwd, e.g.
#                             from a provisioning system (optional; default
#                             /mosquitto/devices/devices.passwd if it exists)
#   PASSWD_FILE               where to write (default /mosquitto/auth/passwd)
#
# Runs in the eclipse-mosquitto image (compose service `mosquitto-passwd`) before the
# broker starts; works the same on a host with `mosquitto_passwd` installed. Plain-text
# passwords never touch the output folder: they are hashed in a private temp file first.
set -eu
umask 077
out="${PASSWD_FILE:-/mosquitto/auth/passwd}"
devices="${DEVICES_FILE:-/mosquitto/devices/devices.txt}"
hashed="${DEVICES_HASHED_FILE:-/mosquitto/devices/devices.passwd}"
: "${MQTT_INGEST_PASSWORD:?MQTT_INGEST_PASSWORD is required}"

tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
printf 'ingest:%s\n' "$MQTT_INGEST_PASSWORD" >>"$tmp"
[ -n "${MQTT_API_PASSWORD:-}" ] && printf 'api:%s\n' "$MQTT_API_PASSWORD" >>"$tmp"
[ -n "${MQTT_SIMULATOR_PASSWORD:-}" ] && printf 'simulator:%s\n' "$MQTT_SIMULATOR_PASSWORD" >>"$tmp"
if [ -f "$devices" ]; then
    # Skip blank lines and comments; a device id may not contain ':' '+' '#' or '/'.
    grep -v -E '^[[:space:]]*(#|$)' "$devices" >>"$tmp" || true
fi
mosquitto_passwd -U "$tmp"
if [ -f "$hashed" ]; then
    grep -v -E '^[[:space:]]*(#|$)' "$hashed" >>"$tmp" || true
fi
mkdir -p "$(dirname "$out")"
cat "$tmp" >"$out.new"
mv "$out.new" "$out"
# The broker runs as the image's `mosquitto` user and must read the file.
chown mosquitto:mosquitto "$out" 2>/dev/null || true
chmod 0600 "$out" 2>/dev/null || true
echo "mosquitto-passwd: wrote $(wc -l <"$out") users to $out"
