# apitokend %post ($1: 1 install, 2 upgrade).
# The state directory is created if absent and never touched when present:
# upgrades keep the token store and the pepper. The units are enabled on
# the first install only (an admin's `systemctl disable` survives
# upgrades); the sockets are started only when systemd runs the system and
# this is not a chroot or an image build.
if [ ! -d /var/cpanel/apitokend ]; then
	install -d -m 0700 -o root -g root /var/cpanel/apitokend || exit 1
fi
if [ "$1" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
	systemctl --no-reload enable apitokend.socket apitokend-verify.socket \
		apitokend.service >/dev/null 2>&1 || :
fi
if [ -d /run/systemd/system ] && ! systemd-detect-virt --quiet --chroot 2>/dev/null; then
	systemctl daemon-reload >/dev/null 2>&1 || :
	if [ "$1" -eq 1 ]; then
		systemctl start apitokend.socket apitokend-verify.socket >/dev/null 2>&1 || :
	fi
fi
exit 0
