#!/usr/bin/env bash
# Install what the tests need (LibreOffice, Gnumeric, locale data) and run them.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=()
if ! command -v soffice >/dev/null 2>&1 && ! command -v libreoffice >/dev/null 2>&1; then
    PACKAGES+=(libreoffice-calc-nogui)
fi
if ! command -v ssconvert >/dev/null 2>&1; then
    PACKAGES+=(gnumeric)          # the second engine of xlcnn verify --engine gnumeric
fi
if ! command -v pdftotext >/dev/null 2>&1; then
    PACKAGES+=(poppler-utils)     # pdftotext measures the printed handouts (pages, type size, ###)
fi
if [ ! -e /usr/share/i18n/locales/de_DE ]; then
    PACKAGES+=(locales)           # a German locale is built for the decimal-comma tests
fi
if [ ${#PACKAGES[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    echo "installing ${PACKAGES[*]}..."
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
fi

python3 -m pip install -q ".[test]"
python3 -m pytest -q "$@"
