#!/bin/bash
# The attack: rls-policy(5)'s own example, `extends: agent-safe` plus a
# write rule for /build, used to expose /build/.env (the preset's secret
# rules came first, and the last matching rule wins).  Secrets now live in
# `hide`, applied after every rule: through a real rlsfs mount they stay
# invisible under any later rule, hidden folders stay hidden even where a
# rule would open them for what is beneath, and only an exact `unhide`
# (which `rls policy check` reports) drops an inherited pattern.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt
tab=$(printf '\t')
# every secret pattern of the presets (rls-policy(5), SPEC), one path each
secrets=".env .env.local secrets/db.txt tls/server.key tls/ca.pem credentials.json .ssh/id_rsa id_rsa.pub
id_ed25519 id_ecdsa.pub .git-credentials .netrc .npmrc .pypirc .aws/credentials .gnupg/pubring.kbx
.kube/config .docker/config.json cert.p12 cert.pfx"
mkdir -p "$S/build" "$S/src/pkg/secrets" "$S/src/.env.d" "$S/plain/empty"
for f in $secrets; do mkdir -p "$S/build/$(dirname "$f")"; echo "s3cret $f" > "$S/build/$f"; done
echo 'print(1)' > "$S/src/pkg/secrets/leak.py"
echo 'print(2)' > "$S/src/pkg/ok.py"
echo 'X=1' > "$S/src/.env.d/x.py"
echo obj > "$S/build/app.o"
cat > "$T/build.yml" <<'YAML'
extends: agent-safe
rules:
  - { pattern: "/build/**", permission: write }
YAML

for f in $secrets; do
	like "$("$RLS" policy explain "$T/build.yml" "build/$f")" "^none$tab/build/$f${tab}hide: preset:agent-safe:[0-9]+: " \
		"explain: build/$f is hidden by the preset's hide list under a later write rule"
done
"$RLS" policy check "$T/build.yml" >/dev/null 2>"$T/err"
is "$(cat "$T/err")" "" "the man page's example passes check without warnings"

mount_rlsfs "$S" "$M" -p "$T/build.yml" || { echo "Bail out! mount failed"; exit 1; }
for f in $secrets; do
	is "$($FSOP stat "$M/build/$f")" ENOENT "mount: build/$f cannot be seen"
done
is "$(LC_ALL=C ls -A "$M/build" | tr '\n' ' ')" ".docker .kube app.o tls " "a listing of /build shows no secret"
is "$(ls -A "$M/build/tls" "$M/build/.kube" "$M/build/.docker" | grep -v '^/\|^$')" "" \
	"nor does a listing of a folder holding only secrets"
is "$(stat -c '%h %s %b' "$M/build/tls")" "$(stat -c '%h %s %b' "$M/plain/empty")" \
	"a folder holding only hidden files has the link count, size and blocks of an empty one"
is "$(du -s --apparent-size "$M/build/tls" | cut -f1)" "$(du -s --apparent-size "$M/plain/empty" | cut -f1)" \
	"du counts nothing hidden"
is "$($FSOP open "$M/build/.env" wc)" EACCES "an existing hidden name cannot be made"
is "$($FSOP open "$M/build/.env.new" wc)" EACCES "nor an absent one"
is "$($FSOP rename "$M/build/app.o" "$M/build/cert.p12")" EACCES "nor renamed onto"
is "$($FSOP unlink "$M/build/.netrc")" ENOENT "nor removed"
is "$($FSOP mkdir "$M/build/.aws")" EACCES "a hidden folder cannot be made over"
echo fine > "$M/build/new.o"
is "$(cat "$M/build/new.o")" fine "the write rule still works for everything else"
umount_rlsfs "$M"

# Hidden folders beat the rules that open folders for what is beneath them.
cat > "$T/py.yml" <<'YAML'
rules:
  - { pattern: "**/*.py", permission: read }
hide:
  - "**/secrets/**"
  - "**/.env*"
YAML
mount_rlsfs "$S" "$M" -p "$T/py.yml" --delta "$T/delta2" || { echo "Bail out! mount failed"; exit 1; }
is "$(cat "$M/src/pkg/ok.py")" "print(2)" "a .py file is readable through implicit traversal"
is "$(ls -A "$M/src/pkg" | tr '\n' ' ')" "ok.py " "a hidden folder is not listed, though a .py file lies in it"
is "$($FSOP stat "$M/src/pkg/secrets")" ENOENT "it cannot be looked up"
is "$($FSOP stat "$M/src/pkg/secrets/leak.py")" ENOENT "nor the .py file in it"
is "$($FSOP stat "$M/src/.env.d/x.py")" ENOENT "a folder hidden by a basename pattern hides its .py files too"
umount_rlsfs "$M"

# Only an exact unhide drops an inherited pattern, and check says so.
cat > "$T/unhide.yml" <<'YAML'
extends: build.yml
unhide:
  - "**/*.pem"
  - ".netrc"
YAML
"$RLS" policy check "$T/unhide.yml" >/dev/null 2>"$T/err"
like "$(cat "$T/err")" "unhide.yml:3:5: warning: unhide '\\*\\*/\\*\\.pem' drops the hide pattern inherited from preset:agent-safe:[0-9]+" \
	"check names an unhide, the pattern and the file it came from"
like "$(cat "$T/err")" "unhide.yml:4:5: warning: unhide '.netrc' drops nothing" \
	"and an unhide not written as inherited, which drops nothing"
is "$("$RLS" policy explain "$T/unhide.yml" build/tls/ca.pem build/.netrc | cut -f1 | tr '\n' ' ')" "write none " \
	"the exact unhide shows its pattern's files; the other changes nothing"
done_testing
