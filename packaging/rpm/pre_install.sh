# apitokend %pre ($1: 1 install, 2 upgrade): the verify-socket group must
# exist before the socket units are installed.
getent group apitokend-verify >/dev/null || groupadd -r apitokend-verify || exit 1
exit 0
