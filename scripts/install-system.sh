#!/usr/bin/env bash
# Install the Debian packages Weike needs, only those missing. Usage: install-system.sh run|test
set -euo pipefail
profile=${1:-run}
need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

have_cmd ffmpeg && have_cmd ffprobe || need+=(ffmpeg)
have_pkg fonts-noto-cjk || need+=(fonts-noto-cjk)
have_cmd mcopy || need+=(mtools)  # weike packs write onto a FAT image
have_cmd fpcalc || need+=(libchromaprint-tools)  # copy detection: the sound's fingerprint
if [ "$profile" = test ]; then
  have_cmd espeak-ng || need+=(espeak-ng)
  have_cmd sox || need+=(sox)
  have_pkg libsox-fmt-all || need+=(libsox-fmt-all)
  have_cmd chromium || need+=(chromium)
  have_cmd mkfs.vfat || need+=(dosfstools)
  have_cmd unzip || need+=(unzip)
fi
[ ${#need[@]} -eq 0 ] && exit 0

echo "Installing Debian packages: ${need[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if have_cmd sudo; then sudo="sudo"; else
    echo "Please install as root: apt-get install -y ${need[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
