#!/usr/bin/env bash
# Builds apitokend's Debian and RPM packages from a checkout:
#
#   packaging/build.sh
#
# writes target/packages/apitokend_<version>-1_amd64.deb (cargo-deb) and
# target/packages/apitokend-<version>-1.x86_64.rpm (cargo-generate-rpm).
#
# Needs: the Rust toolchain, a C compiler, libpam0g-dev (pam_apitoken.so
# links libpam), dpkg-dev (dpkg-shlibdeps computes the .deb's Depends), and
#   cargo install --locked cargo-deb cargo-generate-rpm
# packaging/test.sh checks the result; .ci/run installs all of this.
#
# Steps: release build of the whole workspace (binaries stripped by
# [profile.release] strip = true), man pages and shell completions generated
# from the clap definitions (crates/gendocs) into target/packaging-assets/,
# then both packages from the metadata in Cargo.toml
# ([package.metadata.deb], [package.metadata.generate-rpm]).
set -euo pipefail
cd "$(dirname "$0")/.."

# The package metadata names assets under ./target: keep everything there.
export CARGO_TARGET_DIR="$PWD/target"
assets=target/packaging-assets
out=target/packages

die() {
	echo "packaging/build.sh: $*" >&2
	exit 1
}

for tool in cargo-deb cargo-generate-rpm; do
	command -v "$tool" >/dev/null ||
		die "$tool not found: cargo install --locked cargo-deb cargo-generate-rpm"
done
command -v dpkg-shlibdeps >/dev/null ||
	die "dpkg-shlibdeps not found (apt-get install dpkg-dev): the .deb would lack its Depends"

# The .deb installs pam_apitoken.so under the amd64 multiarch directory
# (see the assets in Cargo.toml): refuse to mislabel another architecture.
deb_arch=$(dpkg --print-architecture)
[ "$deb_arch" = amd64 ] ||
	die "the .deb metadata is for amd64 (PAM dir /usr/lib/x86_64-linux-gnu/security), not $deb_arch"

pkgid=$(cargo pkgid --quiet -p apitokend)
version=${pkgid##*[#@]}

# Reproducible timestamps (cargo-deb honours SOURCE_DATE_EPOCH too).
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
	export SOURCE_DATE_EPOCH
fi

echo "==> cargo build --release --workspace --locked"
cargo build --release --workspace --locked

for bin in target/release/apitokend target/release/apitoken target/release/libpam_apitoken.so; do
	[ -f "$bin" ] || die "$bin was not built"
	if readelf -S "$bin" | grep -q '\.symtab'; then
		die "$bin is not stripped ([profile.release] strip = true expected)"
	fi
done

echo "==> man pages and completions into $assets"
rm -rf "$assets"
cargo run --quiet --release --locked -p apitokend-gendocs -- "$assets" >/dev/null
gzip -9n "$assets"/man/man*/*

# Debian changelog (required by policy), generated so it always carries the
# Cargo version; the history itself is in git.
maintainer=$(sed -n 's/^maintainer = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$maintainer" ] || die "no maintainer in [package.metadata.deb]"
cat >"$assets/changelog" <<EOF
apitokend ($version-1) unstable; urgency=medium

  * Release $version (see the git history for the changes).

 -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF

rm -rf "$out"
mkdir -p "$out"

echo "==> cargo deb"
cargo deb -p apitokend --no-build --output "$out/"

echo "==> cargo generate-rpm"
cargo generate-rpm -p . --output "$out/"

echo "==> packages in $out:"
ls -l "$out"
