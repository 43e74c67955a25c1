# t/lib-posix.sh - rlsfs against a native directory, for the t/034x tests.
#
#   posix_setup            $S0 (make_tree fills it) copied to $N (native)
#                          and $S (the source), $S mounted full-access at $M
#   same "sentence" SCRIPT run SCRIPT with D=$N and with D=$M; the outputs
#                          (paths shown as D) must be equal
#   source_sum             a checksum of $S: names, sizes, times, modes, data
#
# A script prints what it observes: fsop's errno names, contents, stat(1)
# fields.  Native ext4 is the reference, so no expected value is written
# by hand where the kernel can be asked.

N=$T/native S0=$T/start S=$T/src M=$T/mnt
export FSOP

source_sum() {
	(cd "$S" && find . -printf '%p %y %s %T@ %m\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0r md5sum) | md5sum
}

posix_setup() {
	cp -a "$S0" "$N" && cp -a "$S0" "$S" || return 1
	SOURCE_BEFORE=$(source_sum)
	mount_rlsfs "$S" "$M" -p full-access "$@"
}

# run_in DIR SCRIPT: the script's output with DIR written as D.
run_in() {
	local out
	out=$(cd "$1" && D=$1 bash -c "$2" 2>&1)
	printf '%s' "${out//$1/D}"
}

same() {
	local want got
	want=$(run_in "$N" "$2")
	got=$(run_in "$M" "$2")
	if [ "$got" = "$want" ]; then
		_tap_result 0 "$1"
		return 0
	fi
	_tap_result 1 "$1"
	diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | sed 's/^/#   /' | head -20
	return 1
}

# same_text GOT WANT "sentence", with a diff when they differ.
same_text() {
	if [ "$1" = "$2" ]; then
		_tap_result 0 "$3"
		return 0
	fi
	_tap_result 1 "$3"
	diff <(printf '%s\n' "$2") <(printf '%s\n' "$1") | sed 's/^/#   /' | head -20
	return 1
}

# The tree as ls -l would tell it, without what rlsfs reports by design
# (directories: one link, size 4096).
tree_listing() {
	(cd "$1" && find . -mindepth 1 \( -type d -printf '%P d - %m -\n' \) -o \
		\( -printf '%P %y %s %m %n\n' \) | LC_ALL=C sort)
}

tree_content() {
	(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r md5sum)
}
