#!/bin/sh
# image/bundle.sh BINARY DESTDIR
#
# Makes DESTDIR a self-contained runner-supervisor: DESTDIR/bin/runner-supervisor plus every
# shared library it loads except glibc's own (DESTDIR/lib), found through the binary's
# $ORIGIN/../lib run path, so that `COPY --from=… /opt/runner-supervisor /opt/runner-supervisor`
# works in any glibc-based image whatever libraries it has (see image/README.md).
#
# BINARY must be linked with
#     -Wl,--disable-new-dtags -Wl,-rpath,'$ORIGIN/../lib'
# (Dockerfile.runner's build stage does it). Why DT_RPATH and not the newer DT_RUNPATH: a
# RUNPATH applies to the binary's direct dependencies only, so libcurl's own dependencies
# (nghttp2, gnutls, krb5, ldap, ... 30 of them) would be looked up in the system directories
# and be "not found" in an image without them; the executable's DT_RPATH is searched for the
# dependencies of every library that has no run path of its own (which this script checks),
# and it is not overridden by an LD_LIBRARY_PATH that a runner image may set for its tools.
#
# Checks, each failing the build with a message:
#   - the run path is there;
#   - no bundled library carries its own RPATH/RUNPATH (it would cut the $ORIGIN chain) or
#     needs GLIBC_PRIVATE symbols (it would only work with this exact glibc);
#   - the newest glibc symbol version needed is at most BUNDLE_MAX_GLIBC (environment; default
#     2.35, the glibc of Ubuntu 22.04: custom runner images on 22.04, and
#     ghcr.io/actions/actions-runner before 2.331, which has been Ubuntu 24.04 with glibc 2.39
#     since; empty: no limit);
#   - in place, every library but glibc's resolves inside DESTDIR/lib and the binary runs.
# Writes DESTDIR/MANIFEST (version, glibc needed, each library with its Debian package and
# version when dpkg knows them) and each library's copyright file under DESTDIR/share/doc/.
#
# Needs: ldd (glibc), readelf and objdump (binutils), sort -V; dpkg-query optionally.
set -eu

die() { echo "bundle.sh: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: bundle.sh BINARY DESTDIR"
bin=$1
dest=$2
max_glibc=${BUNDLE_MAX_GLIBC-2.35}
name=$(basename "$bin")

[ -x "$bin" ] || die "$bin is not an executable file"
for tool in ldd readelf objdump sort; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (binutils, libc-bin, coreutils)"
done

rpath=$(readelf -d "$bin" | sed -n 's/.*(RPATH).*\[\(.*\)\]/\1/p')
case ":$rpath:" in
*':$ORIGIN/../lib:'*) ;;
*)
	die "$bin has no DT_RPATH \$ORIGIN/../lib (RPATH: '${rpath}', RUNPATH: '$(readelf -d "$bin" |
		sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')'); link it with LDFLAGS=\"-Wl,--disable-new-dtags -Wl,-rpath,'\$\$ORIGIN/../lib'\""
	;;
esac

# glibc's own libraries: they come from the target image, always (its ld.so, its libc, and the
# libraries that use GLIBC_PRIVATE symbols of that libc).
is_glibc() {
	case "$1" in
	linux-vdso.so.* | linux-gate.so.* | ld-linux*.so.* | ld64.so.* | libc.so.* | libm.so.* | \
		libmvec.so.* | libpthread.so.* | libdl.so.* | librt.so.* | libresolv.so.* | \
		libutil.so.* | libanl.so.* | libnsl.so.1 | libBrokenLocale.so.* | libthread_db.so.* | \
		libnss_*.so.* | libc_malloc_debug.so.* | libmemusage.so | libpcprofile.so)
		return 0 ;;
	esac
	return 1
}

rm -rf "$dest"
mkdir -p "$dest/bin" "$dest/lib"
cp "$bin" "$dest/bin/$name"
chmod 0755 "$dest/bin/$name"

# ldd lists the whole closure (direct and indirect), "soname => path (address)".
ldd "$bin" >"$dest/.ldd" || die "ldd $bin failed"
if grep -q 'not found' "$dest/.ldd"; then
	cat "$dest/.ldd" >&2
	die "$bin has unresolved libraries on this system"
fi
libs=""
while read -r soname arrow path _rest; do
	[ "$arrow" = "=>" ] || continue
	is_glibc "$soname" && continue
	real=$(readlink -f "$path")
	cp "$real" "$dest/lib/$soname"
	chmod 0644 "$dest/lib/$soname"
	libs="$libs $soname"
	echo "$soname $path $real" >>"$dest/.paths"
	own=$(readelf -d "$real" | grep -E '\((RPATH|RUNPATH)\)' || true)
	[ -z "$own" ] || die "$real has its own run path ($own): it would not find its bundled dependencies"
	if objdump -T "$real" | grep -q 'GLIBC_PRIVATE'; then
		die "$real uses GLIBC_PRIVATE symbols: it belongs to glibc, add it to is_glibc"
	fi
done <"$dest/.ldd"
rm -f "$dest/.ldd"

# The newest GLIBC_x.y symbol version anything in the bundle needs.
needed=$(for f in "$dest/bin/$name" "$dest"/lib/*; do
	objdump -T "$f" | grep -o 'GLIBC_[0-9][0-9.]*' || true
done | sed 's/GLIBC_//' | sort -Vu | tail -n 1)
if [ -n "$max_glibc" ] && [ -n "$needed" ]; then
	newest=$(printf '%s\n%s\n' "$needed" "$max_glibc" | sort -V | tail -n 1)
	if [ "$newest" != "$max_glibc" ]; then
		for f in "$dest/bin/$name" "$dest"/lib/*; do
			objdump -T "$f" | grep -F "GLIBC_$needed" | sed "s|^|  $(basename "$f"): |" >&2 || true
		done
		die "the bundle needs glibc $needed, newer than BUNDLE_MAX_GLIBC=$max_glibc (the runner image's): build in an older BUILD_IMAGE, or avoid the symbols above"
	fi
fi

# In place: every library but glibc's must come from the bundle.
libdir=$(readlink -f "$dest/lib")
ldd "$dest/bin/$name" >"$dest/.ldd"
while read -r soname arrow path _rest; do
	[ "$arrow" = "=>" ] || continue
	is_glibc "$soname" && continue
	case "$(readlink -f "$path")" in
	"$libdir/"*) ;;
	*)
		cat "$dest/.ldd" >&2
		rm -f "$dest/.ldd"
		die "$soname resolves to $path, not into $dest/lib"
		;;
	esac
done <"$dest/.ldd"
rm -f "$dest/.ldd"
version=$("$dest/bin/$name" --version) || die "$dest/bin/$name --version failed"

{
	echo "# runner-supervisor bundle: bin/$name finds lib/* through its DT_RPATH \$ORIGIN/../lib"
	echo "$version" | sed 's/^/# /'
	echo "glibc_needed=$needed"
	echo "built_on=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}")"
	echo "arch=$(uname -m)"
	while read -r soname path real; do
		pkg=""
		if command -v dpkg-query >/dev/null 2>&1; then
			# merged /usr: dpkg may know the file under /lib or /usr/lib
			for p in "$path" "$real" "${real#/usr}" "/usr$path"; do
				pkg=$(dpkg-query -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1) || pkg=""
				[ -z "$pkg" ] || break
			done
			if [ -n "$pkg" ]; then
				ver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
				if [ -f "/usr/share/doc/$pkg/copyright" ]; then
					mkdir -p "$dest/share/doc/$pkg"
					cp "/usr/share/doc/$pkg/copyright" "$dest/share/doc/$pkg/copyright"
				fi
				pkg="$pkg $ver"
			fi
		fi
		echo "lib=$soname${pkg:+ $pkg}"
	done <"$dest/.paths"
} >"$dest/MANIFEST"

rm -f "$dest/.paths"
echo "bundle.sh: $dest: $name and $(echo $libs | wc -w) libraries, needs glibc >= $needed"
