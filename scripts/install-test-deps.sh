#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real: socat (pseudo-terminal pairs for the serial
# path), ser2net (RFC 2217 serial-over-network server for rfc2217:// tests) and a C compiler with make
# (the C reference codec). Needs root or sudo; does nothing when present.
set -euo pipefail
need=()
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v ser2net >/dev/null 2>&1 || need+=(ser2net)
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v make >/dev/null 2>&1 || need+=(make)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update
  $SUDO apt-get install -y "${need[@]}"
fi
