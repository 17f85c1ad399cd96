#!/usr/bin/env bash
# hallkit's one entry point: installs what is missing, then runs the demo hall or the tests.
#   ./hallkit.sh demo    install everything and start the demo hall
#   ./hallkit.sh test    install everything and run every check CI runs
set -euo pipefail
cd "$(dirname "$0")"
VENV="${HALLKIT_VENV:-.venv}"

log() { printf '\033[1m[hallkit]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

system_packages() {
  # Debian/Ubuntu packages the hall needs at run time, installed only when missing.
  local missing=()
  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
  ldconfig -p 2>/dev/null | grep -q 'libzbar.so.0' || missing+=(libzbar0)
  [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
  # Uyghur (Arabic script) for the kiosk's third language: DejaVu Sans has every form it needs
  [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
  command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
  ldconfig -p 2>/dev/null | grep -q 'libmtdev.so.1' || missing+=(libmtdev1)
  ldconfig -p 2>/dev/null | grep -q 'libGL.so.1' || missing+=(libgl1 libegl1)
  # Kivy draws with OpenGL; on a machine without a GPU (CI, the headless tests) that is
  # Mesa's software renderer through EGL.
  ls /usr/lib/*/dri/swrast_dri.so >/dev/null 2>&1 || missing+=(libgl1-mesa-dri)
  ls /usr/lib/*/libEGL_mesa.so.0 >/dev/null 2>&1 || missing+=(libegl-mesa0)
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
  # The web faces' browser tests and screenshots drive Debian's Chromium with Playwright
  # (never a downloaded browser).
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
      log "missing system packages (${missing[*]}) and no apt-get: install them by hand"; exit 1
    fi
    log "installing system packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

python_env() {
  local py="${PYTHON:-python3}"
  "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || { log "Python >= 3.11 is required ($("$py" --version 2>&1) found)"; exit 1; }
  [ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$py" -m venv "$VENV"; }
  local stamp="$VENV/.hallkit-installed"
  local want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing Python packages into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e '.[kiosk,dev]'
    echo "$want" > "$stamp"
  fi
  # The Mandarin voice pack is generated from espeak-ng at install time, once.
  "$VENV/bin/python" -m devices voice-pack --ensure >/dev/null 2>&1 \
    || log "the Mandarin voice pack could not be generated (is espeak-ng installed?); calls fall back to whole-sentence TTS"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  demo)
    system_packages; python_env
    exec "$VENV/bin/python" -m hall_controller demo "$@"
    ;;
  test)
    system_packages; python_env
    export PATH="$PWD/$VENV/bin:$PATH"
    log "ruff check"; ruff check .
    log "ruff format --check"; ruff format --check .
    log "mypy"; mypy
    log "pytest"; exec python -m pytest "$@"
    ;;
  *)
    echo "usage: ./hallkit.sh demo | test" >&2; exit 2
    ;;
esac
