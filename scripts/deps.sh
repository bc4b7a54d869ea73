#!/bin/bash
# Install the Debian packages a build or test group needs, when missing.
# usage: scripts/deps.sh GROUP...   (groups: scripts/deps/GROUP.txt)
set -eu
cd "$(dirname "$0")/deps"
want=()
for g in "$@"; do
	[ -f "$g.txt" ] || { echo "deps: unknown group $g" >&2; exit 2; }
	while read -r p _; do
		case "$p" in ''|'#'*) continue ;; esac
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || want+=("$p")
	done < "$g.txt"
done
[ ${#want[@]} -eq 0 ] && exit 0
echo "deps: installing ${want[*]}"
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
