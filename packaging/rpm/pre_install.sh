# apitokend %pre ($1: 1 install, 2 upgrade): the verify-socket group must
# exist before the socket units are installed, and the HTTPS front's
# account apitokend-web (no shell, home /var/lib/apitokend-web) must be in
# it before apitokend-web.service can start.
getent group apitokend-verify >/dev/null || groupadd -r apitokend-verify || exit 1
if ! getent passwd apitokend-web >/dev/null; then
	useradd -r -U -M -d /var/lib/apitokend-web -s /sbin/nologin apitokend-web || exit 1
fi
usermod -a -G apitokend-verify apitokend-web || exit 1
exit 0
