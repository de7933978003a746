# apitokend %preun ($1: 0 erase, 1 upgrade): on erase, disable and stop the
# daemon, both sockets and the HTTPS front. On upgrade nothing stops
# (%postun restarts).
if [ "$1" -eq 0 ] && command -v systemctl >/dev/null 2>&1; then
	systemctl --no-reload disable apitokend-web.service apitokend.service apitokend.socket \
		apitokend-verify.socket >/dev/null 2>&1 || :
	if [ -d /run/systemd/system ]; then
		systemctl stop apitokend-web.service apitokend.service apitokend.socket \
			apitokend-verify.socket >/dev/null 2>&1 || :
	fi
fi
exit 0
