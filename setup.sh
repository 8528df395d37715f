#!/usr/bin/env bash
# Installs the Debian packages wanrt needs to build and test (run as root, or with sudo present).
set -euo pipefail
pkgs=(build-essential pkg-config libpng-dev libcriterion-dev
      libavformat-dev libavcodec-dev libavutil-dev libswscale-dev ffmpeg
      clang libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
echo "setup: all packages present"
