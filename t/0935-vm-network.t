#!/bin/bash
# vm backend: no network device unless asked; with --net, qemu's
# user-mode network (the host is 10.0.2.2, its resolver 10.0.2.3).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vm.sh"
need_vm

# (without --net the guest has loopback alone: t/0910)
# A server on the host's loopback, which user-mode networking shows the
# guest as 10.0.2.2.
mkdir -p "$T/www"
echo "served-by-host" > "$T/www/hello.txt"
python3 -m http.server --bind 127.0.0.1 --directory "$T/www" 0 > "$T/http.log" 2>&1 &
srv=$!
at_exit "kill $srv"
ok "a server listens on the host" wait_for "$T/http.log" 'Serving HTTP'
resolv=$(sha256sum < /etc/resolv.conf 2>/dev/null)
port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$T/http.log" | head -n 1)
vm_run --net --no-stdin -- sh -c "ls /sys/class/net | tr '\n' ' '; echo; cat /etc/resolv.conf;
	python3 -c 'import urllib.request; print(urllib.request.urlopen(\"http://10.0.2.2:$port/hello.txt\", timeout=60).read().decode(), end=\"\")'"
is "$rc" 0 "with --net the command runs"
is "$(printf '%s\n' "$out" | head -n 1)" "eth0 lo " "the guest has a network device"
like "$out" "nameserver 10.0.2.3" "and qemu's resolver in /etc/resolv.conf (not the host's)"
is "$(printf '%s\n' "$out" | tail -n 1)" served-by-host "and reaches the host through it"
is "$(sha256sum < /etc/resolv.conf 2>/dev/null)" "$resolv" "the host's own /etc/resolv.conf is untouched"
ok "nothing is left behind" no_vm_leftovers
done_testing
