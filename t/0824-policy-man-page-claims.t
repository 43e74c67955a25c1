#!/bin/bash
# The attack: a reader trusts rls-policy(5).  Every example policy in the
# page is taken from the page itself (the blocks marked `.\" example: FILE`),
# every command shown after `.\" run` is run, and its output must be what
# the page prints (spacing aside); every preset the page prints
# (`.\" preset: NAME`) must be what `rls policy show` prints.
. "$(dirname "$0")/lib.sh"

PAGE=$RLS_SRC/man/rls-policy.5
[ -r "$PAGE" ] || { echo "Bail out! no $PAGE"; exit 1; }
mkdir -p "$T/ex" && cd "$T/ex" || exit 1

# The .nf/.fi block after each marker, as the reader sees it.
blocks() {
	awk -v want="$1" '
		function unescape(s) {
			gsub(/\\-/, "-", s); gsub(/\\&/, "", s); gsub(/\\e/, "\\", s)
			return s
		}
		$0 ~ "^\\.\\\\\" " want { grab = 1; name = $0; sub(/^[^:]*: ?/, "", name); next }
		grab && /^\.nf$/ { inside = 1; printf "@@ %s\n", name; next }
		inside && /^\.fi$/ { inside = 0; grab = 0; next }
		inside { print unescape($0) }
	' "$PAGE"
}
squeeze() { tr -s ' \t' '  '; }

# example files
n=0
while IFS= read -r line; do
	case "$line" in
	"@@ "*) file=${line#@@ }; : > "$file"; n=$((n + 1)) ;;
	*) printf '%s\n' "$line" >> "$file" ;;
	esac
done < <(blocks "example:")
ok "the page has example policies ($n)" test "$n" -ge 4
for f in *.yml; do
	out=$("$RLS" policy check "$f" 2>&1); rc=$?
	is "$rc" 0 "the page's example $f passes rls policy check"
done

# commands and the output the page shows for them
runs=0
check_run() {
	[ -n "$cmd" ] || return 0
	local got
	got=$(eval "\"\$RLS\" ${cmd#rls }" 2>&1 | squeeze)
	is "$got" "$(printf '%s' "$want" | squeeze)" "the page's \`$cmd\` prints what the page shows"
	runs=$((runs + 1))
}
cmd= want=
while IFS= read -r line; do
	case "$line" in
	"@@ "*) check_run; cmd= want= ;;
	'$ '*) check_run; cmd=${line#\$ } want= ;;
	*) want=${want:+$want$'\n'}$line ;;
	esac
done < <(blocks "run")
check_run
ok "the page shows commands and their output ($runs)" test "$runs" -ge 5

# presets
p=0
while IFS= read -r line; do
	case "$line" in
	"@@ "*) name=${line#@@ }; : > "preset-$name"; p=$((p + 1)) ;;
	*) printf '%s\n' "$line" >> "preset-$name" ;;
	esac
done < <(blocks "preset:")
for name in agent-safe read-only view-only full-access development; do
	"$RLS" policy show "$name" > "shown-$name"
	if [ -f "preset-$name" ]; then
		cmp -s "preset-$name" "shown-$name"
		is $? 0 "the page prints the $name preset exactly as rls policy show does"
	else
		ok "the page prints the $name preset" false
	fi
done

# claims made in prose
tab=$(printf '\t')
printf 'rules:\n  - { pattern: "**/*.py", permission: read }\nhide: ["**/secrets/**"]\n' > trav.yml
is "$("$RLS" policy explain trav.yml a/secrets/ a/secrets/x.py | cut -f1 | tr '\n' ' ')" "none none " \
	"IMPLICIT TRAVERSAL: a hidden folder is never traversable, nor what is in it"
printf 'rules:\n  - { pattern: "**", permission: read }\nhide: ["**/.env*", "**/.ssh/"]\n' > hide.yml
is "$("$RLS" policy explain hide.yml x/.env.d/a x/.ssh/k x/.ssh | cut -f1 | tr '\n' ' ')" "none none read " \
	"HIDE: a hidden folder hides what it holds; a trailing slash leaves files to the rules"
printf 'rules:\n  - { pattern: "**", permission: write }\nprotect: ["**/.git", "**/.git/hooks/**"]\n' > prot.yml
is "$("$RLS" policy explain prot.yml a/.git/ a/.git/index a/.git/hooks/ a/.git/hooks/x | cut -f1 | tr '\n' ' ')" \
	"read write read read " "PROTECT: **/.git protects the folder, not its content; /** protects the subtree"
done_testing
