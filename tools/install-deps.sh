#!/bin/sh
# Installs the Debian packages named as arguments that are not installed yet (apt, as root).
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "kt: installing Debian packages:$missing" >&2
if [ "$(id -u)" != 0 ]; then
    echo "kt: need root to install:$missing (run as root, or install them with apt)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null
