#!/usr/bin/env bash
# Install the Debian/Ubuntu system packages PitBox's tests need.
#
# * As root on Debian/Ubuntu: installs whatever is missing with
#   `apt-get install -y --no-install-recommends` (running `apt-get update` first only when the
#   package lists are older than a day or absent). Packages already installed are skipped, so a
#   repeated run takes well under a second.
# * Not root, or not Debian/Ubuntu: prints what is missing and exits 0; the tests that need a missing
#   package skip or fail with a reason that names it.
#
# Usage: scripts/install-system-deps.sh          (normally through `make system-deps` / `make test`)
# Environment: PITBOX_APT_MAX_AGE_S  age of the package lists that triggers `apt-get update` (86400)
set -euo pipefail

# --- The packages ------------------------------------------------------------------------------------
# One group per need, one package per line, with the reason. Append new needs as new groups
# (e.g. speech: espeak-ng libespeak-ng1 sox; relay sinks: mosquitto; dashboards: chromium
# chromium-driver) so the reason for every package stays next to it.
PACKAGES=(
    # Qt under a virtual X server (tests that need a real X display run under `xvfb-run -a`)
    xvfb                    # Xvfb and xvfb-run
    xauth                   # used by xvfb-run
    # Qt's xcb platform plugin (libxcb-icccm4 and libxcb-keysyms1 are what it really misses on a
    # bare image, whatever its message says about libxcb-cursor0)
    libxcb-icccm4
    libxcb-keysyms1
    libxcb-cursor0
    libxkbcommon-x11-0
    # Qt itself (also under QT_QPA_PLATFORM=offscreen)
    libegl1
    libgl1
    libfontconfig1
    libdbus-1-3
    libglib2.0-0
    fonts-dejavu-core       # a font, so text renders in screenshots
    # Browser tests (tests/e2e: the HTML report, later the dashboards) in real headless Chromium
    # through selenium; they skip with a reason when either is missing
    chromium                # /usr/bin/chromium
    chromium-driver         # /usr/bin/chromedriver, the WebDriver selenium talks to
    # The relay's MQTT sink is tested against a real broker: each test starts its own mosquitto on
    # a free loopback port with its own config (the system service, if any, is not used)
    mosquitto               # /usr/sbin/mosquitto
    # Voice: pyttsx3 speaks through libespeak-ng on Linux; sounddevice needs PortAudio; the tests
    # play to ALSA's null device (alsa-utils brings its configuration tools)
    espeak-ng
    libespeak-ng1
    libportaudio2
    alsa-utils
    # Packaging (`make dist`, tests/e2e/test_dist_bundle.py): PyInstaller reads binaries with objdump,
    # and build.spec strips symbols with strip (without them the bundle builds, ~80 MB larger)
    binutils
)

# A Debian python3 without ensurepip cannot create `.venv` (`make venv`); add python3-venv then.
if [[ "$(command -v python3 || true)" == /usr/bin/python3 ]] && ! /usr/bin/python3 -c 'import ensurepip' 2>/dev/null
then
    PACKAGES+=(python3-venv)
fi

# --- Nothing to change below to add a package ---------------------------------------------------------
log() { printf 'install-system-deps: %s\n' "$*" >&2; }

if [[ ! -f /etc/debian_version ]] || ! command -v dpkg-query >/dev/null 2>&1; then
    log "not a Debian/Ubuntu system: install the equivalents of these packages yourself:"
    log "  ${PACKAGES[*]}"
    exit 0
fi

is_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    log "all ${#PACKAGES[@]} system packages present"
    exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
    log "missing system packages (tests that need them will skip or fail with a reason):"
    log "  ${missing[*]}"
    log "install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
max_age_s="${PITBOX_APT_MAX_AGE_S:-86400}"
update_stamp=/var/lib/apt/periodic/pitbox-update-success-stamp

apt_update() {
    log "apt-get update"
    apt-get update -qq
    mkdir -p "$(dirname "$update_stamp")"
    touch "$update_stamp"
}

lists_fresh() {
    # Fresh = updated by this script (or apt itself) less than max_age_s ago, and lists present.
    compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || return 1
    local stamp newest=0 mtime
    for stamp in "$update_stamp" /var/lib/apt/periodic/update-success-stamp; do
        if [[ -e "$stamp" ]]; then
            mtime="$(stat -c %Y "$stamp")"
            ((mtime > newest)) && newest="$mtime"
        fi
    done
    (($(date +%s) - newest < max_age_s))
}

apt_install() {
    apt-get install -y -qq --no-install-recommends "$@"
}

updated=0
if ! lists_fresh; then
    apt_update
    updated=1
fi

# Packages this distribution release does not have are reported, not fatal.
available=()
for pkg in "${missing[@]}"; do
    if apt-cache show "$pkg" >/dev/null 2>&1; then
        available+=("$pkg")
    else
        log "warning: no package '$pkg' on this distribution; skipping it"
    fi
done
((${#available[@]} == 0)) && exit 0

log "installing: ${available[*]}"
if ! apt_install "${available[@]}"; then
    # Stale lists point at files the mirror no longer has: refresh once and retry.
    ((updated)) && exit 1
    apt_update
    apt_install "${available[@]}"
fi
log "done"
