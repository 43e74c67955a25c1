#!/bin/bash
# vm backend: what the guest sees of the host, through virtiofs and 9p
# alike: the shared folder read and written (owners kept), the host's
# system folders read-only, and nothing the caller hides.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vm.sh"
need_vm

# A secret in a system folder, as a source tree under /opt would be.
O=/opt/rls-vm-test.$$
mkdir -p "$O/secret"
echo visible > "$O/visible"
echo sesame > "$O/secret/key"
echo sesame > "$O/secret-file"
at_exit "rm -rf '$O'"

cat > "$T/probe.sh" <<'PROBE'
echo "cpus=$(nproc)"
echo "read=$(cat /workspace/from-host)"
echo written > /workspace/from-guest
mkdir -p /workspace/dir/sub && echo deep > /workspace/dir/sub/file
head -c 8388608 /dev/urandom > /workspace/big-from-guest
echo "big_guest=$(sha256sum < /workspace/big-from-guest | cut -d' ' -f1)"
echo "big_host=$(sha256sum < /workspace/big-from-host | cut -d' ' -f1)"
mv /workspace/renamed-from /workspace/renamed-to && echo rename=ok
rm /workspace/doomed && echo unlink=ok
echo "listing=$(ls -A /workspace | tr '\n' ' ')"
echo "os=$(. /etc/os-release && echo "$ID")"
echo "python=$(python3 -c 'print(6 * 7)' 2>&1)"
echo "opt_listing=$(ls -A "$O" | tr '\n' ' ')"
echo "secret_dir=$(ls -A "$O/secret" | tr '\n' ' ')"
echo "secret_file=$(cat "$O/secret-file" 2>&1 | wc -c)"
touch /usr/share/rls-test 2>&1 | grep -q 'Read-only' && echo usr=read-only || echo usr=writable
mkdir "$O/new" 2>&1 | grep -q 'Read-only' && echo opt=read-only || echo opt=writable
PROBE

for kind in virtiofs 9p; do
	rm -rf "$W"/* "$W"/.[!.]* 2>/dev/null
	echo hello > "$W/from-host"
	head -c 8388608 /dev/urandom > "$W/big-from-host"
	echo x > "$W/renamed-from"
	echo x > "$W/doomed"
	cp "$T/probe.sh" "$W/probe.sh"
	chown -R $VM_UID:$VM_GID "$W"
	want_big=$(sha256sum < "$W/big-from-host" | cut -d' ' -f1)

	# (9p's VM also has 2 vCPUs: --cpus 1.5 rounds up)
	cpus=1; [ $kind = 9p ] && cpus=1.5
	vm_run --kind $kind --cpus $cpus --no-stdin --hide "$O/secret" --hide "$O/secret-file" --env PATH=/usr/bin:/bin --env "O=$O" \
		-- sh /workspace/probe.sh
	field() { printf '%s\n' "$out" | grep "^$1=" | head -n 1 | cut -d= -f2-; }
	is "$rc" 0 "$kind: the probe ran"
	[ "$rc" = 0 ] || diag "$err"
	is "$(field cpus)" "$([ $kind = 9p ] && echo 2 || echo 1)" "$kind: the VM has the vCPUs asked for, rounded up"
	is "$(field read)" hello "$kind: a host file reads in the guest"
	is "$(cat "$W/from-guest" 2>&1)" written "$kind: a file written in the guest is on the host"
	is "$(stat -c %u:%g "$W/from-guest" 2>&1)" "$VM_UID:$VM_GID" "$kind: and it belongs to the command's uid and gid"
	is "$(cat "$W/dir/sub/file" 2>&1)" deep "$kind: so do new folders"
	is "$(field big_host)" "$want_big" "$kind: 8 MB from the host read whole"
	is "$(sha256sum < "$W/big-from-guest" | cut -d' ' -f1)" "$(field big_guest)" "$kind: 8 MB from the guest written whole"
	is "$(field rename):$(field unlink)" ok:ok "$kind: rename and unlink work"
	ok "$kind: and show on the host" test -e "$W/renamed-to" -a ! -e "$W/doomed"
	is "$(field listing)" "big-from-guest big-from-host dir from-guest from-host probe.sh renamed-to " \
		"$kind: the guest sees the shared folder, nothing more"
	is "$(field os)" "$(. /etc/os-release && echo "$ID")" "$kind: the host's /etc is there"
	is "$(field python)" 42 "$kind: the host's python3 runs in the guest"
	is "$(field opt_listing)" "secret secret-file visible " "$kind: a hidden path keeps its name"
	is "$(field secret_dir)" "" "$kind: but a hidden folder shows nothing"
	is "$(field secret_file)" 0 "$kind: and a hidden file holds nothing"
	is "$(field usr)" read-only "$kind: /usr is read-only"
	is "$(field opt)" read-only "$kind: /opt is read-only"
	ok "$kind: nothing is left behind" no_vm_leftovers
done
done_testing
