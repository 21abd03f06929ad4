#!/usr/bin/env bash
# Makes a headless browser available to the browser tests and exports where it is.
#
#   source scripts/services-browser.sh   # then: SUANLI_CHROMIUM=... SUANLI_CHROMEDRIVER=...
#
# Installs Debian's chromium and chromium-driver only if they are missing (needs root), with a
# CJK font (fonts-wqy-microhei) so that the pages' Chinese names render in screenshots.
set -euo pipefail

_suanli_browser_missing() {
    ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
        || ! dpkg -s fonts-wqy-microhei >/dev/null 2>&1
}

if _suanli_browser_missing; then
    if [ "$(id -u)" = 0 ]; then
        apt-get -o DPkg::Lock::Timeout=300 update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
            --no-install-recommends chromium chromium-driver fonts-wqy-microhei >/dev/null
    else
        echo "services-browser.sh: chromium is not installed and this is not root" >&2
        return 1 2>/dev/null || exit 1
    fi
fi
if _suanli_browser_missing; then
    echo "services-browser.sh: chromium, chromedriver or the CJK font is still missing" >&2
    return 1 2>/dev/null || exit 1
fi

export SUANLI_CHROMIUM="$(command -v chromium)"
export SUANLI_CHROMEDRIVER="$(command -v chromedriver)"
echo "services-browser.sh: $("$SUANLI_CHROMIUM" --version 2>/dev/null | head -n 1) at $SUANLI_CHROMIUM" >&2
