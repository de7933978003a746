# apitokend %postun ($1: 0 erase, 1 upgrade). RPM has no purge: erase keeps
# the token store and pepper in /var/cpanel/apitokend, the front's
# /var/lib/apitokend-web, the user apitokend-web and the group
# apitokend-verify (delete them by hand to remove every trace); modified
# files in /etc/apitokend are kept as *.rpmsave.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
	if [ "$1" -ge 1 ]; then
		systemctl try-restart apitokend.service apitokend-web.service >/dev/null 2>&1 || :
	fi
fi
if [ "$1" -eq 0 ]; then
	rm -rf /run/apitokend /run/apitokend-web
	# cargo-generate-rpm cannot mark directories as owned: remove ours
	# when erase left them empty (an .rpmsave keeps /etc/apitokend).
	rmdir /usr/share/doc/apitokend/examples/pam.d /usr/share/doc/apitokend/examples/nginx \
		/usr/share/doc/apitokend/examples \
		/usr/share/doc/apitokend /usr/share/licenses/apitokend /usr/libexec/apitokend \
		/etc/apitokend \
		2>/dev/null || :
fi
exit 0
