#!/bin/sh
# The test suites need Check (libcheck), found with pkg-config. If it is
# missing: install it on Debian/Ubuntu (saying so), or print the one
# command for this platform and stop.
pkg-config --exists check 2>/dev/null && exit 0

if command -v apt-get >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
	echo "Check (libcheck) is missing; running: $sudo apt-get install -y check pkg-config"
	$sudo apt-get install -y check pkg-config ||
	{ echo "retrying after: $sudo apt-get update"; $sudo apt-get update &&
	  $sudo apt-get install -y check pkg-config; } || exit 1
	pkg-config --exists check && exit 0
	echo "check was installed, but 'pkg-config --exists check' still fails" >&2
	exit 1
fi

case "$(uname -s)" in
Darwin)		cmd="brew install check pkg-config" ;;
FreeBSD)	cmd="pkg install check pkgconf" ;;
OpenBSD)	cmd="pkg_add check" ;;
NetBSD)		cmd="pkgin install check pkgconf" ;;
*)
	if command -v dnf >/dev/null 2>&1; then cmd="dnf install check-devel pkgconf"
	elif command -v pacman >/dev/null 2>&1; then cmd="pacman -S check pkgconf"
	elif command -v apk >/dev/null 2>&1; then cmd="apk add check-dev pkgconf"
	elif command -v zypper >/dev/null 2>&1; then cmd="zypper install check-devel pkg-config"
	else cmd="install Check (https://libcheck.github.io/check/) and pkg-config"
	fi ;;
esac
echo "The tests need Check (libcheck) and pkg-config. Install them with:" >&2
echo "    $cmd" >&2
exit 1
