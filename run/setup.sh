#!/usr/bin/env bash
# run/setup.sh - shared set-up for the quick-start commands: install the
# Debian packages mugai needs (only those missing), then configure and
# build into build/ (or $MUGAI_BUILD). Sourced by run/demo and run/test.
set -euo pipefail

MUGAI_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MUGAI_BUILD=${MUGAI_BUILD:-$MUGAI_ROOT/build}

# Everything to build, run and test mugai, from Debian 12's archive.
MUGAI_PACKAGES=(
  build-essential cmake pkg-config clang-format file
  libglib2.0-dev libgmime-3.0-dev libmagic-dev libclamav-dev libpoppler-glib-dev
  libcairo2-dev libarchive-dev libseccomp-dev libsqlite3-dev libxml2-dev
  libgdk-pixbuf-2.0-dev webp-pixbuf-loader libjson-glib-dev libcmocka-dev zlib1g-dev
  libjpeg62-turbo-dev libdeflate-dev
  libreoffice-core libreoffice-writer libreoffice-calc libreoffice-impress
  libreofficekit-dev fonts-ipaexfont
  libcurl4-openssl-dev w3m libmilter-dev miltertest postfix
  poppler-data poppler-utils qpdf jbig2dec python3 python3-fitz python3-pil iproute2 time
  libmicrohttpd-dev libargon2-dev libgnutls28-dev chromium chromium-driver python3-selenium
  sqlite3 openssl 7zip libarchive-tools
)

mugai_install_packages() {
  local missing=()
  for p in "${MUGAI_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "==> all ${#MUGAI_PACKAGES[@]} packages are installed"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "run/setup: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 2
  fi
  # Debian's "nogui" builds of LibreOffice cannot load a spreadsheet through LibreOfficeKit
  # (the warm Office service); the full ones take their place.
  for p in libreoffice-core-nogui libreoffice-writer-nogui libreoffice-calc-nogui \
      libreoffice-impress-nogui libreoffice-draw-nogui; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      && missing+=("$p-")
  done
  echo "==> installing ${#missing[@]} packages: ${missing[*]}"
  apt-get update -qq
  # mugai runs its own private Postfix instances; the system one stays unconfigured.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
}

# mugai-milter runs as its own user when started as root (tests and the demo start it so);
# Postfix reaches its 0660 socket through Postfix's own group ([milter] socket_group), and is
# kept out of group mugai, which owns the quarantine; mugai-web is in it, for the store.
mugai_user() {
  if getent passwd mugai >/dev/null && ! id -nG postfix 2>/dev/null | grep -qw mugai &&
      id -nG mugai-web 2>/dev/null | grep -qw mugai; then
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "run/setup: the users mugai and mugai-web (in mugai's group) are missing, or postfix" \
      "is still in group mugai; run as root" >&2
    exit 2
  fi
  if ! getent passwd mugai >/dev/null; then
    echo "==> creating the system user mugai"
    useradd --system --user-group --no-create-home --home-dir /var/lib/mugai \
      --shell /usr/sbin/nologin mugai
  fi
  if id -nG postfix 2>/dev/null | grep -qw mugai; then
    echo "==> taking postfix out of group mugai (it owns the quarantine)"
    gpasswd -d postfix mugai >/dev/null
  fi
  # mugai-web, the review console, runs as its own user with the store's group.
  if ! getent passwd mugai-web >/dev/null; then
    echo "==> creating the system user mugai-web"
    useradd --system --user-group --no-create-home --home-dir /var/lib/mugai \
      --shell /usr/sbin/nologin mugai-web
  fi
  usermod -a -G mugai mugai-web
}

mugai_build() {
  echo "==> building in $MUGAI_BUILD"
  cmake -S "$MUGAI_ROOT" -B "$MUGAI_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  if ! cmake --build "$MUGAI_BUILD" -j "$(nproc)" -- --no-print-directory 2>&1 |
      { grep -Ev '^\[ *[0-9]+%\]' || true; }; then
    echo "run/setup: build failed" >&2
    exit 1
  fi
}
