#!/usr/bin/env bash
# Checks the packages that packaging/build.sh wrote to target/packages/:
#
#   packaging/test.sh
#
# Run as root on a Debian 12 machine where apitokend is NOT installed (CI
# does this after build.sh): it installs, upgrades, removes and purges the
# .deb for real. Needs lintian, rpm, man-db, binutils and systemd
# (systemd-analyze; systemd need not be running). Every check prints "ok:"
# or stops the script with "FAIL:" and a non-zero status.
#
#  1. .deb contents, conffiles and lintian (--fail-on error)
#  2. .rpm file list, scriptlets, %config(noreplace) flags and requirements
#  3. dpkg -i: files, group, state dir 0700, units enabled, --check-config,
#     systemd-analyze verify, man pages, completions, PAM module, cPanel hook
#  4. the installed daemon creates its store and pepper and issues a token
#  5. reinstall (upgrade path): store, pepper and a modified conffile kept,
#     the token still verifies
#  6. dpkg -r keeps state and configuration; dpkg --purge leaves nothing
#  7. rpm -i / rpm -e with Debian's rpm (--nodeps): the scriptlets work, erase
#     keeps the state directory and the group
set -euo pipefail
cd "$(dirname "$0")/.."

passed=0
ok() {
	echo "ok: $*"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
# check DESCRIPTION COMMAND...: runs COMMAND, fails loudly with its output.
check() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$what"
	else
		printf '%s\n' "$out" >&2
		fail "$what (command: $*)"
	fi
}

[ "$(id -u)" = 0 ] || fail "run as root (the test installs the .deb)"
shopt -s nullglob
debs=(target/packages/apitokend_*.deb)
rpms=(target/packages/apitokend-*.rpm)
shopt -u nullglob
[ "${#debs[@]}" = 1 ] || fail "expected one .deb in target/packages (run packaging/build.sh)"
[ "${#rpms[@]}" = 1 ] || fail "expected one .rpm in target/packages (run packaging/build.sh)"
deb=${debs[0]}
rpm=${rpms[0]}
for tool in lintian rpm man readelf systemd-analyze; do
	command -v "$tool" >/dev/null || fail "$tool is missing (see .ci/run for the apt-get line)"
done
if dpkg-query -W -f='${Status}' apitokend 2>/dev/null | grep -q installed; then
	fail "apitokend is installed here: this test installs and purges it (dpkg --purge apitokend first)"
fi
if rpm -q apitokend >/dev/null 2>&1; then
	fail "apitokend is in the rpm database: this test installs and erases it (rpm -e --nodeps apitokend first)"
fi
[ ! -e /var/cpanel/apitokend ] ||
	fail "/var/cpanel/apitokend exists: the purge step would delete it; move it away first"

GROUP=apitokend-verify
WEB_USER=apitokend-web
PAMDIR=/usr/lib/x86_64-linux-gnu/security
STATE=/var/cpanel/apitokend
work=$(mktemp -d)
daemon_pid=
cleanup() {
	if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
echo "== 1. .deb: contents and lintian ($deb)"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|; s|/$||' | grep -v '^$' |
	sort >"$work/deb-paths"
for f in /usr/sbin/apitokend /usr/bin/apitoken /usr/sbin/apitokend-web "$PAMDIR/pam_apitoken.so" \
	/usr/libexec/apitokend/cpanel-account-hook \
	/usr/lib/systemd/system/apitokend.service /usr/lib/systemd/system/apitokend.socket \
	/usr/lib/systemd/system/apitokend-verify.socket /usr/lib/systemd/system/apitokend-web.service \
	/usr/share/man/man8/apitokend-web.8.gz /usr/share/doc/apitokend/examples/nginx/apitokend-auth.conf \
	/etc/apitokend/apitokend.toml /etc/apitokend/functions.conf /etc/apitokend/acls.conf \
	/usr/share/man/man1/apitoken.1.gz /usr/share/man/man8/apitokend.8.gz \
	/usr/share/bash-completion/completions/apitoken /usr/share/bash-completion/completions/apitokend \
	/usr/share/zsh/vendor-completions/_apitoken /usr/share/zsh/vendor-completions/_apitokend \
	/usr/share/fish/vendor_completions.d/apitoken.fish /usr/share/fish/vendor_completions.d/apitokend.fish \
	/usr/share/doc/apitokend/README.md /usr/share/doc/apitokend/copyright \
	/usr/share/doc/apitokend/changelog.Debian.gz; do
	grep -qxF "$f" "$work/deb-paths" || fail ".deb lacks $f"
done
ok ".deb ships binaries, PAM module, cPanel account hook, units, configuration, man pages, completions, docs"
dpkg-deb -f "$deb" Depends | grep -q 'libc6' || fail ".deb Depends lacks libc6 (dpkg-shlibdeps missing?)"
dpkg-deb -f "$deb" Depends | grep -q 'libpam0g' || fail ".deb Depends lacks libpam0g"
ok ".deb Depends: $(dpkg-deb -f "$deb" Depends)"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | sort >"$work/conffiles"
printf '%s\n' /etc/apitokend/acls.conf /etc/apitokend/apitokend.toml /etc/apitokend/functions.conf \
	/etc/pam.d/apitokend-web |
	diff -u - "$work/conffiles" || fail ".deb conffiles differ from /etc/apitokend/* and /etc/pam.d/apitokend-web"
ok ".deb conffiles: every /etc/apitokend file"
for s in postinst prerm postrm; do
	dpkg-deb --ctrl-tarfile "$deb" | tar -xO "./$s" | sh -n || fail "$s: syntax error"
done
ok ".deb maintainer scripts parse"
echo "-- lintian"
lintian_rc=0
lintian --fail-on error --display-info "$deb" >"$work/lintian" 2>&1 || lintian_rc=$?
# (lintian warns that it runs as root; the tags are what matters.)
grep -v 'running with root privileges' "$work/lintian" || true
[ "$lintian_rc" = 0 ] || fail "lintian reports errors (exit $lintian_rc, tags above)"
ok "lintian --fail-on error: no errors"

# ---------------------------------------------------------------------------
echo "== 2. .rpm: files, scriptlets, config flags ($rpm)"
check "rpm -K: digests" rpm -K --nosignature "$rpm"
rpm -qpl "$rpm" | sort >"$work/rpm-paths"
for f in /usr/sbin/apitokend /usr/bin/apitoken /usr/sbin/apitokend-web /usr/lib64/security/pam_apitoken.so \
	/usr/libexec/apitokend/cpanel-account-hook \
	/usr/lib/systemd/system/apitokend.service /usr/lib/systemd/system/apitokend.socket \
	/usr/lib/systemd/system/apitokend-verify.socket /usr/lib/systemd/system/apitokend-web.service \
	/etc/apitokend/apitokend.toml /etc/apitokend/functions.conf /etc/apitokend/acls.conf \
	/usr/share/man/man1/apitoken.1.gz /usr/share/man/man8/apitokend.8.gz \
	/usr/share/bash-completion/completions/apitoken /usr/share/bash-completion/completions/apitokend \
	/usr/share/zsh/site-functions/_apitoken /usr/share/zsh/site-functions/_apitokend \
	/usr/share/fish/vendor_completions.d/apitoken.fish /usr/share/fish/vendor_completions.d/apitokend.fish \
	/usr/share/doc/apitokend/README.md /usr/share/licenses/apitokend/LICENSE; do
	grep -qxF "$f" "$work/rpm-paths" || fail ".rpm lacks $f"
done
ok "rpm -qpl: binaries, PAM module, cPanel account hook, units, configuration, man pages, completions, docs, license"
if grep -vE '^/(etc/apitokend|usr/(s?bin|libexec/apitokend|lib64/security|lib/systemd/system|share/(man|doc/apitokend|licenses/apitokend|bash-completion|zsh/site-functions|fish/vendor_completions\.d)))/' \
	"$work/rpm-paths" | grep -vxF /etc/pam.d/apitokend-web; then
	fail ".rpm ships files outside the expected directories (listed above)"
fi
ok "rpm -qpl: nothing outside the expected directories"
rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' "$rpm" >"$work/rpm-modes"
grep -qxF -- '-rwxr-xr-x root:root /usr/sbin/apitokend' "$work/rpm-modes" || fail "rpm: /usr/sbin/apitokend mode/owner"
grep -qxF -- '-rwxr-xr-x root:root /usr/bin/apitoken' "$work/rpm-modes" || fail "rpm: /usr/bin/apitoken mode/owner"
grep -qxF -- '-rwxr-xr-x root:root /usr/libexec/apitokend/cpanel-account-hook' "$work/rpm-modes" ||
	fail "rpm: cpanel-account-hook mode/owner"
grep -qxF -- '-rw-r--r-- root:root /etc/apitokend/apitokend.toml' "$work/rpm-modes" || fail "rpm: apitokend.toml mode/owner"
ok "rpm file modes and owners"
rpm -qp --scripts "$rpm" >"$work/rpm-scripts"
for s in 'preinstall scriptlet' 'postinstall scriptlet' 'preuninstall scriptlet' 'postuninstall scriptlet' \
	'groupadd -r apitokend-verify' 'install -d -m 0700 -o root -g root /var/cpanel/apitokend' \
	'useradd -r -U -M -d /var/lib/apitokend-web' 'usermod -a -G apitokend-verify apitokend-web' \
	'enable apitokend.socket apitokend-verify.socket' 'try-restart apitokend.service'; do
	grep -qF -- "$s" "$work/rpm-scripts" || fail "rpm -qp --scripts lacks '$s'"
done
if grep -q 'rm -rf /var/cpanel' "$work/rpm-scripts"; then
	fail "an rpm scriptlet deletes the state directory (rpm has no purge: keep it)"
fi
ok "rpm -qp --scripts: %pre group, %post state dir + enable, %preun stop, %postun restart; state kept on erase"
rpm -qp --configfiles "$rpm" | sort >"$work/rpm-config"
printf '%s\n' /etc/apitokend/acls.conf /etc/apitokend/apitokend.toml /etc/apitokend/functions.conf \
	/etc/pam.d/apitokend-web |
	diff -u - "$work/rpm-config" || fail "rpm -qp --configfiles differs from /etc/apitokend/* and /etc/pam.d/apitokend-web"
# RPMFILE_CONFIG = 1, RPMFILE_NOREPLACE = 16
while read -r name flags; do
	case $name in
	/etc/apitokend/* | /etc/pam.d/apitokend-web)
		[ $((flags & 1)) = 1 ] && [ $((flags & 16)) = 16 ] ||
			fail "$name is not %config(noreplace) (flags $flags)"
		;;
	*) [ $((flags & 1)) = 0 ] || fail "$name is marked %config (flags $flags)" ;;
	esac
done < <(rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS}\n]' "$rpm")
ok "rpm: /etc/apitokend/* and /etc/pam.d/apitokend-web are %config(noreplace), nothing else is %config"
rpm -qpR "$rpm" >"$work/rpm-requires"
for r in '/bin/sh' 'shadow-utils' 'libpam.so.0()(64bit)' 'libc.so.6()(64bit)'; do
	grep -qxF -- "$r" "$work/rpm-requires" || fail "rpm -qpR lacks $r"
done
ok "rpm -qpR: /bin/sh, shadow-utils, libc, libpam"

# ---------------------------------------------------------------------------
echo "== 3. dpkg -i"
# What exists before, to prove that purge leaves nothing behind.
while read -r p; do
	if [ -e "$p" ] || [ -L "$p" ]; then echo "$p"; fi
done <"$work/deb-paths" >"$work/preexisting"
group_before=no
if getent group "$GROUP" >/dev/null; then group_before=yes; fi
web_user_before=no
if getent passwd "$WEB_USER" >/dev/null; then web_user_before=yes; fi
var_cpanel_before=no
if [ -d /var/cpanel ]; then var_cpanel_before=yes; fi
snapshot() {
	find /etc /var/cpanel /var/lib/apitokend /run/apitokend /var/lib/systemd \
		/usr/sbin /usr/bin /usr/libexec /usr/lib/systemd "$PAMDIR" /usr/share/man /usr/share/doc \
		/usr/share/bash-completion /usr/share/zsh /usr/share/fish /usr/share/lintian /usr/lib64 \
		-xdev 2>/dev/null |
		grep -vxE '/etc/(group|gshadow|passwd|shadow|subgid|subuid)-|/etc/ld\.so\.cache' |
		sort || true
}
snapshot >"$work/before"

check "dpkg -i $deb" dpkg -i "$deb"
dpkg-query -W -f='${Status}\n' apitokend | grep -qx 'install ok installed' || fail "dpkg status after install"
dpkg -L apitokend | sort >"$work/dpkg-L"
comm -13 <(sed 's|^$||' "$work/deb-paths") "$work/dpkg-L" | grep -vx '/\.' |
	grep . && fail "dpkg -L lists paths that are not in the .deb (above)"
for f in /usr/sbin/apitokend /usr/bin/apitoken /usr/sbin/apitokend-web "$PAMDIR/pam_apitoken.so"; do
	[ -f "$f" ] || fail "$f not installed"
	if readelf -S "$f" | grep -q '\.symtab'; then fail "$f is not stripped"; fi
	if ldd "$f" | grep -q 'not found'; then
		ldd "$f" >&2
		fail "$f has unresolved libraries"
	fi
done
[ -x /usr/sbin/apitokend ] && [ -x /usr/bin/apitoken ] && [ -x /usr/libexec/apitokend/cpanel-account-hook ] ||
	fail "binaries or the cPanel hook not executable"
ok "installed: /usr/sbin/apitokend, /usr/bin/apitoken, $PAMDIR/pam_apitoken.so (stripped, libraries resolve)"
check "apitokend --version" /usr/sbin/apitokend --version
check "apitoken --version" /usr/bin/apitoken --version
check "apitokend-web --version" /usr/sbin/apitokend-web --version
readelf --dyn-syms -W "$PAMDIR/pam_apitoken.so" >"$work/pam-syms"
for sym in pam_sm_authenticate pam_sm_acct_mgmt; do
	grep -qw "$sym" "$work/pam-syms" || fail "pam_apitoken.so does not export $sym"
done
ok "pam_apitoken.so exports pam_sm_authenticate and pam_sm_acct_mgmt"

getent group "$GROUP" >/dev/null || fail "group $GROUP not created"
ok "group $GROUP exists"
getent passwd "$WEB_USER" >/dev/null || fail "user $WEB_USER not created"
id -nG "$WEB_USER" | tr ' ' '\n' | grep -qx "$GROUP" || fail "$WEB_USER is not in group $GROUP"
[ "$(getent passwd "$WEB_USER" | cut -d: -f7)" = /usr/sbin/nologin ] || fail "$WEB_USER has a login shell"
ok "system user $WEB_USER exists, no shell, member of $GROUP"
[ -L /etc/systemd/system/multi-user.target.wants/apitokend-web.service ] &&
	fail "apitokend-web.service enabled on install (port 2087 is cpsrvd's on cPanel servers)"
ok "apitokend-web.service installed, not enabled"
check "apitokend-web --check-config" /usr/sbin/apitokend-web --config /etc/apitokend/apitokend.toml --check-config
/usr/sbin/apitokend-web --config /etc/apitokend/apitokend.toml --check-config |
	grep -qx 'user = "apitokend-web"' || fail "apitokend-web --check-config: unexpected user"
[ "$(stat -c '%a %U %G' "$STATE")" = "700 root root" ] ||
	fail "$STATE is $(stat -c '%a %U %G' "$STATE"), expected 700 root root"
ok "$STATE is 0700 root:root"
for link in sockets.target.wants/apitokend.socket sockets.target.wants/apitokend-verify.socket \
	multi-user.target.wants/apitokend.service; do
	[ -L "/etc/systemd/system/$link" ] || fail "unit not enabled: /etc/systemd/system/$link missing"
done
ok "units enabled (sockets.target.wants, multi-user.target.wants)"

check "apitokend --config /etc/apitokend/apitokend.toml --check-config" \
	/usr/sbin/apitokend --config /etc/apitokend/apitokend.toml --check-config
/usr/sbin/apitokend --config /etc/apitokend/apitokend.toml --check-config |
	grep -qx 'state_dir = "/var/cpanel/apitokend"' || fail "--check-config: unexpected state_dir"
[ -z "$(ls -A "$STATE")" ] || fail "--check-config wrote into $STATE"
ok "--check-config reports the default state_dir and writes nothing"

echo "-- systemd-analyze verify"
units=(/usr/lib/systemd/system/apitokend.service /usr/lib/systemd/system/apitokend.socket
	/usr/lib/systemd/system/apitokend-verify.socket /usr/lib/systemd/system/apitokend-web.service)
if ! systemd-analyze verify "${units[@]}" >"$work/verify" 2>&1; then
	cat "$work/verify" >&2
	fail "systemd-analyze verify"
fi
# Messages about our own units are failures too (other units' noise is not).
if grep -i 'apitokend' "$work/verify"; then fail "systemd-analyze verify complains (above)"; fi
ok "systemd-analyze verify apitokend.service apitokend.socket apitokend-verify.socket apitokend-web.service"

echo "-- man pages and completions"
export MANPAGER=cat MANWIDTH=80
man apitoken >"$work/man1" 2>&1 || fail "man apitoken"
grep -q 'Manage the WHM API tokens' "$work/man1" || fail "man apitoken: NAME line missing"
grep -q 'apitoken-create' "$work/man1" || fail "man apitoken: subcommands missing"
ok "man apitoken renders"
man 8 apitokend >"$work/man8" 2>&1 || fail "man 8 apitokend"
grep -q 'check-config' "$work/man8" || fail "man 8 apitokend: options missing"
grep -q '/var/cpanel/apitokend/pepper' "$work/man8" || fail "man 8 apitokend: FILES missing"
ok "man 8 apitokend renders"
man 1 apitoken-create 2>/dev/null | grep -q -- '--acl' || fail "man apitoken-create"
ok "man apitoken-create renders"
[ "$(man -w apitoken)" = /usr/share/man/man1/apitoken.1.gz ] || fail "man -w apitoken: $(man -w apitoken)"
check "bash completion loads and registers apitoken" \
	bash -c '. /usr/share/bash-completion/completions/apitoken && complete -p apitoken'
check "bash completion loads and registers apitokend" \
	bash -c '. /usr/share/bash-completion/completions/apitokend && complete -p apitokend'
grep -q '#compdef apitoken' /usr/share/zsh/vendor-completions/_apitoken || fail "zsh completion"
grep -q 'complete -c apitoken' /usr/share/fish/vendor_completions.d/apitoken.fish || fail "fish completion"
ok "zsh and fish completions installed"

# ---------------------------------------------------------------------------
echo "== 4. the installed daemon creates its store and pepper"
# Without systemd (CI) the daemon binds its own sockets: give it the runtime
# directory the socket units would create, and log to stderr.
install -d -m 0755 /run/apitokend
# The shipped file names its tables relative to itself: this copy lives
# elsewhere, so it names them absolutely.
{
	echo 'log = "stderr"'
	sed -E 's|^(functions_file\|acls_file) = "([^/"][^"]*)"|\1 = "/etc/apitokend/\2"|' /etc/apitokend/apitokend.toml
} >"$work/run.toml"
start_daemon() {
	/usr/sbin/apitokend --config "$work/run.toml" 2>>"$work/daemon.log" &
	daemon_pid=$!
	for _ in $(seq 100); do
		[ -S /run/apitokend/control.sock ] && [ -S /run/apitokend/verify.sock ] && return 0
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$work/daemon.log" >&2
	fail "installed daemon did not start"
}
stop_daemon() {
	kill -TERM "$daemon_pid"
	wait "$daemon_pid" || fail "daemon exited with status $? on SIGTERM"
	daemon_pid=
}
start_daemon
token=$(/usr/bin/apitoken create pkgtest --acl list-accts | grep -oE '[A-Z0-9]{32}' | head -n 1) ||
	fail "apitoken create"
[ -n "$token" ] || fail "apitoken create printed no token"
printf '%s\n' "$token" | /usr/bin/apitoken verify --user root --ip 127.0.0.1 --function listaccts >/dev/null ||
	fail "the new token does not verify"
# The shipped cPanel hook, fed cPanel's documented input, reaches the
# daemon through the installed CLI and answers as cPanel reads it.
hook_out=$(printf '%s' '{"context":{"category":"Whostmgr","event":"Accounts::Remove","stage":"post","point":"main"},"data":{"user":"pkghookgone","killdns":1}}' |
	/usr/libexec/apitokend/cpanel-account-hook) || fail "cpanel-account-hook failed: $hook_out"
[ "$hook_out" = '1 apitokend: revoked 0 API token(s) of “pkghookgone”' ] ||
	fail "cpanel-account-hook answered: $hook_out"
if hook_out=$(printf '%s' '{"context":{"category":"Whostmgr","event":"Accounts::Remove","stage":"post"},"data":{"user":"x"}}' |
	APITOKEND_SOCKET=/nonexistent.sock /usr/libexec/apitokend/cpanel-account-hook 2>/dev/null); then
	fail "cpanel-account-hook succeeded without a daemon"
fi
case $hook_out in "0 apitokend: the API tokens of “x” were not revoked"*) ;; *) fail "hook failure reply: $hook_out" ;; esac
ok "installed cpanel-account-hook: Accounts::Remove reaches the daemon; unreachable daemon is a \"0 …\" reply"
stop_daemon
[ -f "$STATE/pepper" ] || fail "the daemon created no pepper in $STATE"
ok "daemon created $STATE/pepper and the store; token pkgtest issued and verified"

# ---------------------------------------------------------------------------
echo "== 5. reinstall (upgrade path) keeps the store, the pepper and modified configuration"
(cd "$STATE" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$work/state-before"
echo '# local change (packaging/test.sh)' >>/etc/apitokend/functions.conf
check "dpkg -i $deb (again)" dpkg -i "$deb"
(cd "$STATE" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$work/state-after"
diff -u "$work/state-before" "$work/state-after" || fail "upgrade changed the state directory"
[ "$(stat -c '%a' "$STATE")" = 700 ] || fail "upgrade changed the mode of $STATE"
grep -q 'local change (packaging/test.sh)' /etc/apitokend/functions.conf ||
	fail "upgrade replaced a modified conffile"
ok "upgrade kept store, pepper (sha256 unchanged) and the modified functions.conf"
start_daemon
/usr/bin/apitoken list | grep -q pkgtest || fail "token pkgtest gone after the upgrade"
printf '%s\n' "$token" | /usr/bin/apitoken verify --user root --ip 127.0.0.1 --function listaccts >/dev/null ||
	fail "token does not verify after the upgrade"
stop_daemon
ok "after the upgrade token pkgtest is listed and still verifies"
(cd "$STATE" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$work/state-before-remove"

# ---------------------------------------------------------------------------
echo "== 6. dpkg -r keeps state; dpkg --purge leaves nothing behind"
check "dpkg -r apitokend" dpkg -r apitokend
dpkg-query -W -f='${Status}\n' apitokend | grep -qx 'deinstall ok config-files' || fail "dpkg status after remove"
[ ! -e /usr/sbin/apitokend ] && [ ! -e /usr/bin/apitoken ] && [ ! -e "$PAMDIR/pam_apitoken.so" ] &&
	[ ! -e /usr/libexec/apitokend ] ||
	fail "dpkg -r left binaries"
[ -f "$STATE/pepper" ] || fail "dpkg -r deleted the pepper"
(cd "$STATE" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | diff -u "$work/state-before-remove" - ||
	fail "dpkg -r changed the state directory"
[ -f /etc/apitokend/apitokend.toml ] || fail "dpkg -r deleted the configuration"
getent group "$GROUP" >/dev/null || fail "dpkg -r deleted group $GROUP"
ok "dpkg -r: binaries gone; store, pepper, configuration and group kept"

check "dpkg --purge apitokend" dpkg --purge apitokend
dpkg-query -W -f='${Status}\n' apitokend 2>/dev/null | grep -q installed && fail "still known to dpkg after purge"
left=0
while read -r p; do
	grep -qxF "$p" "$work/preexisting" && continue
	if [ -e "$p" ] || [ -L "$p" ]; then
		echo "left behind: $p" >&2
		left=1
	fi
done <"$work/dpkg-L"
[ "$left" = 0 ] || fail "purge left packaged paths behind"
ok "every path dpkg -L listed (and that did not exist before) is gone"
for p in /etc/apitokend "$STATE" /var/lib/apitokend /var/lib/apitokend-web /run/apitokend /usr/sbin/apitokend \
	/usr/bin/apitoken /usr/sbin/apitokend-web /usr/lib/systemd/system/apitokend-web.service \
	"$PAMDIR/pam_apitoken.so" /usr/libexec/apitokend /usr/share/doc/apitokend /usr/lib/systemd/system/apitokend.service; do
	if [ -e "$p" ] || [ -L "$p" ]; then fail "purge left $p"; fi
done
find /etc/systemd /var/lib/systemd -name '*apitokend*' | grep . && fail "purge left unit state (above)"
if [ "$group_before" = no ] && getent group "$GROUP" >/dev/null; then
	fail "purge left group $GROUP, which the package created"
fi
if [ "$web_user_before" = no ] && getent passwd "$WEB_USER" >/dev/null; then
	fail "purge left user $WEB_USER, which the package created"
fi
if [ "$web_user_before" = no ] && getent group "$WEB_USER" >/dev/null; then
	fail "purge left group $WEB_USER, which the package created"
fi
if [ "$var_cpanel_before" = no ] && [ -e /var/cpanel ]; then
	fail "purge left /var/cpanel, which the package created"
fi
ok "purge removed state, pepper, configuration, group and unit state"
snapshot >"$work/after"
diff -u "$work/before" "$work/after" || fail "the file system differs from before the install (above)"
ok "file system listing identical to before the install"

# ---------------------------------------------------------------------------
echo "== 7. rpm -i / rpm -e on this machine (scriptlets run for real; --nodeps: Debian's rpm database is empty)"
rpm_flags=(--nodeps)
if rpm --help 2>/dev/null | grep -q -- --force-debian; then rpm_flags+=(--force-debian); fi
rpm -q apitokend >/dev/null 2>&1 && fail "apitokend is in the rpm database already"
check "rpm -i $rpm" rpm -i "${rpm_flags[@]}" "$rpm"
[ -x /usr/sbin/apitokend ] && [ -f /usr/lib64/security/pam_apitoken.so ] || fail "rpm -i: files missing"
check "rpm -V: installed files match the package" rpm -V --nodeps apitokend
getent group "$GROUP" >/dev/null || fail "%pre did not create group $GROUP"
id -nG "$WEB_USER" | tr ' ' '\n' | grep -qx "$GROUP" || fail "%pre did not put $WEB_USER in $GROUP"
[ "$(stat -c '%a %U %G' "$STATE")" = "700 root root" ] || fail "%post did not create $STATE 0700"
[ -L /etc/systemd/system/sockets.target.wants/apitokend.socket ] || fail "%post did not enable apitokend.socket"
ok "rpm %pre/%post: group, user $WEB_USER in it, state dir 0700, units enabled"
check "apitokend --check-config (rpm install)" \
	/usr/sbin/apitokend --config /etc/apitokend/apitokend.toml --check-config
echo 'pepper-placeholder' >"$STATE/pepper"
check "rpm -e apitokend" rpm -e "${rpm_flags[@]}" apitokend
[ -f "$STATE/pepper" ] || fail "rpm -e deleted the state directory (rpm has no purge: it must stay)"
getent group "$GROUP" >/dev/null || fail "rpm -e deleted group $GROUP"
for p in /usr/sbin/apitokend /usr/sbin/apitokend-web /etc/apitokend /usr/share/doc/apitokend /usr/share/licenses/apitokend /usr/libexec/apitokend \
	/usr/lib64/security/pam_apitoken.so; do
	if [ -e "$p" ]; then fail "rpm -e left $p"; fi
done
find /etc/systemd -name '*apitokend*' | grep . && fail "rpm -e left the units enabled (above)"
ok "rpm -e: files and enablement gone; state dir, group and user kept, as documented"
# What rpm -e keeps by design, removed by hand as an administrator would.
rm -rf "$STATE"
if [ "$var_cpanel_before" = no ]; then rmdir /var/cpanel; fi
if [ "$web_user_before" = no ]; then userdel "$WEB_USER"; fi
if [ "$web_user_before" = no ] && getent group "$WEB_USER" >/dev/null; then groupdel "$WEB_USER"; fi
if [ "$group_before" = no ]; then groupdel "$GROUP"; fi
# Directories that RPM distributions' filesystem, pam, bash-completion, zsh
# and fish packages own, so the .rpm does not: on Debian nothing owns them
# and rpm -e leaves them, empty. Remove those this test made.
for d in /usr/share/fish/vendor_completions.d /usr/share/fish /usr/share/zsh/site-functions \
	/usr/share/zsh /usr/share/bash-completion/completions /usr/share/bash-completion \
	/usr/lib64/security; do
	if [ -d "$d" ] && ! grep -qxF "$d" "$work/before"; then rmdir "$d"; fi
done
snapshot >"$work/after-rpm"
diff -u "$work/before" "$work/after-rpm" || fail "the file system differs from before the rpm install (above)"
ok "after rpm -e and removing the kept state by hand, the file system is as before"

echo
echo "packaging/test.sh: $passed passed, 0 failed"
