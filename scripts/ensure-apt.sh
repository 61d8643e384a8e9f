#!/usr/bin/env bash
# ensure-apt.sh PACKAGE PATH WHY: install a Debian package when PATH is missing, saying so; never fatal.
set -u
pkg=$1 path=$2 why=$3
[ -e "$path" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "note: $pkg is not installed and apt-get is unavailable; $why will be skipped"
    exit 0
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo -n"
echo "installing $pkg with apt-get for $why (it was missing)"
if ! { $sudo apt-get install -y -qq "$pkg" >/dev/null 2>&1 \
       || { $sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq "$pkg" >/dev/null 2>&1; }; }; then
    echo "note: could not install $pkg; $why will be skipped"
fi
exit 0
