#!/bin/sh
# Removes the system users and groups the test suite creates (README,
# "What a test run changes on the machine"): every name starting with
# "apitok", except the packages' "apitokend*" names.
#
#   tests/remove-test-users.sh            every test user and group
#   tests/remove-test-users.sh NAME...    only these (each must be a test name)
#
# Run as root, when no test run is going on: test runs share these users.
set -eu

is_test_name() {
	case "$1" in
	apitokend*) return 1 ;;
	apitok?*) return 0 ;;
	*) return 1 ;;
	esac
}

if [ "$(id -u)" -ne 0 ]; then
	echo "remove-test-users: run as root" >&2
	exit 2
fi

if [ "$#" -gt 0 ]; then
	names="$*"
	for n in $names; do
		if ! is_test_name "$n"; then
			echo "remove-test-users: $n is not a test name (apitok*, not apitokend*)" >&2
			exit 2
		fi
	done
else
	names=$( (getent passwd; getent group) | cut -d: -f1 | sort -u)
fi

status=0
for n in $names; do
	is_test_name "$n" || continue
	if getent passwd "$n" >/dev/null; then
		# Also removes the user's own group (useradd --user-group).
		userdel "$n" || status=1
	fi
	if getent group "$n" >/dev/null; then
		groupdel "$n" || status=1
	fi
	echo "removed $n"
done
exit $status
