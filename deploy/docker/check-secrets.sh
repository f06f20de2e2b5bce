#!/bin/sh
# Refuse to start while a secret still holds a placeholder from deploy/.env.example.
#
# Looks at every environment variable whose name ends in PASSWORD, TOKEN or SECRET, and at
# the password inside every *_URL (mqtt://user:PASSWORD@host). A value such as
# `change-me`, `changeme`, `<change-me>` or `replace-me-…` stops the container with one
# line naming the variable (never its value) and exit status 78 (EX_CONFIG).
# Used by the image's entrypoint and by compose's `check-secrets` one-shot service.
set -eu

is_placeholder() {
    printf '%s' "$1" | grep -Eiq '^<?[[:space:]]*(change|replace)[-_ ]?me([^[:alnum:]_]|$)'
}

names="$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | grep -E '(PASSWORD|TOKEN|SECRET|_URL)$' || true)"
for name in $names; do
    eval "value=\${$name-}"
    case "$name" in
        *_URL) value="$(printf '%s' "$value" | sed -n 's|^[A-Za-z][A-Za-z0-9+.-]*://[^/@:]*:\([^/@]*\)@.*|\1|p')" ;;
    esac
    if [ -n "$value" ] && is_placeholder "$value"; then
        echo "refusing to start: $name still holds a placeholder secret (like 'change-me'): set a real one (deploy/.env, or the Kubernetes Secret)" >&2
        exit 78
    fi
done
