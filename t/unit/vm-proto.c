/* vm-proto.c - the vm protocol (rls-guest(7)): what the host writes, the
 * guest reads back exactly, and the other way round; and each kind of bad
 * line is refused by the reader that meets it. */
#include "../../vm/vmint.h"
#include "../../guest/guest.h"
#include "tap.h"

static bool guest_reads(const char *line, guest_msg *m)
{
	char why[256];
	size_t len = strlen(line);

	if (len && line[len - 1] == '\n')
		len--;
	if (guest_decode(line, len, m, why, sizeof why) < 0) {
		tap_diag("guest_decode: %s", why);
		return false;
	}
	return true;
}

static bool guest_refuses(const char *line, const char *why_part)
{
	char why[256];
	guest_msg m;

	if (guest_decode(line, strlen(line), &m, why, sizeof why) == 0) {
		guest_msg_free(&m);
		return false;
	}
	if (!strstr(why, why_part)) {
		tap_diag("refused, but for: %s", why);
		return false;
	}
	return true;
}

static bool host_reads(const guest_buf *b, vm_msg *m)
{
	rls_error err;
	size_t len = b->len;

	if (len && b->data[len - 1] == '\n')
		len--;
	if (vm_msg_decode(b->data, len, m, &err) < 0) {
		tap_diag("vm_msg_decode: %s", err.msg);
		return false;
	}
	return true;
}

static bool host_refuses(const char *line, const char *why_part)
{
	rls_error err;
	vm_msg m;

	if (vm_msg_decode(line, strlen(line), &m, &err) == 0) {
		vm_msg_free(&m);
		return false;
	}
	if (!strstr(err.msg, why_part)) {
		tap_diag("refused, but for: %s", err.msg);
		return false;
	}
	return true;
}

static void run_round_trip(void)
{
	char *argv[] = { "sh", "-c", "echo \"$1\"", "\xff\xfe bytes", NULL };
	char *env[] = { "PATH=/usr/bin:/bin", "A=b=c d", "NL=x\ny", NULL };
	vm_request req = { .argv = argv, .env = env, .mount_at = "/work space", .chdir = "/work space/sub",
			   .uid = 1000, .gid = 1001, .share_net = true, .tmp_size = 1 << 20, .pids = 77 };
	rls_error err;
	char *line = proto_run_line(&req, "9p", true, &err);
	guest_msg m;

	tap_ok(line && strchr(line, '\n') == line + strlen(line) - 1, "the request is one line");
	if (!line || !guest_reads(line, &m)) {
		tap_ok(false, "the guest reads the host's request");
		free(line);
		return;
	}
	tap_is_int(m.type, GUEST_MSG_RUN, "the guest reads the host's request");
	tap_is_int((long long)m.run.argc, 4, "argv keeps its length");
	tap_ok(!strcmp(m.run.argv[3], "\xff\xfe bytes") && !m.run.argv[4], "an argument that is not UTF-8 keeps its bytes");
	tap_ok(m.run.envc == 3 && !strcmp(m.run.env[1], "A=b=c d") && !strcmp(m.run.env[2], "NL=x\ny"),
	       "the environment keeps '=', spaces and newlines");
	tap_is_str(m.run.cwd, "/work space/sub", "the starting directory");
	tap_is_str(m.run.mount_at, "/work space", "the mount point");
	tap_ok(m.run.share == GUEST_SHARE_9P && m.run.sys && m.run.net, "the share, the system share and the network");
	tap_ok(m.run.uid == 1000 && m.run.gid == 1001, "the identity");
	tap_is_int((long long)m.run.tmp_size, 1 << 20, "the tmpfs size");
	tap_is_int((long long)m.run.pids, 77, "the process limit");
	tap_is_int((long long)m.run.seed_len, 32, "32 bytes of entropy");
	tap_ok(m.run.time_sec > 1600000000, "the host's clock");
	guest_msg_free(&m);
	free(line);

	req.uid = 0;
	line = proto_run_line(&req, "virtiofs", false, &err);
	tap_ok(line && !guest_reads(line, &m), "a request for uid 0 is refused by the guest too");
	free(line);
}

static void host_lines(void)
{
	rls_buf b = { 0 };
	guest_msg m;
	char *nl;

	proto_in(&b, "\0abc", 4);
	nl = strchr(b.data, '\n');
	*nl = '\0';
	tap_ok(guest_reads(b.data, &m) && m.type == GUEST_MSG_IN && m.len == 4 && !memcmp(m.data, "\0abc", 4),
	       "stdin bytes (a NUL among them) arrive as they were");
	guest_msg_free(&m);
	rls_buf_reset(&b);
	proto_in_eof(&b);
	tap_ok(guest_reads(b.data, &m) && m.type == GUEST_MSG_IN_EOF, "the end of stdin");
	rls_buf_reset(&b);
	proto_signal(&b, 15);
	tap_ok(guest_reads(b.data, &m) && m.type == GUEST_MSG_SIGNAL && m.sig == 15, "a signal");
	rls_buf_reset(&b);
	proto_bye(&b);
	tap_ok(guest_reads(b.data, &m) && m.type == GUEST_MSG_BYE, "bye");
	rls_buf_free(&b);
}

static void guest_lines(void)
{
	guest_buf b = { 0 };
	vm_msg m;
	unsigned char bin[300];

	for (size_t i = 0; i < sizeof bin; i++)
		bin[i] = (unsigned char)i;
	guest_encode_hello(&b, "amd64");
	tap_ok(host_reads(&b, &m) && m.type == VM_MSG_HELLO && m.version == GUEST_PROTO_VERSION &&
		       !strcmp(m.arch, "amd64"),
	       "the host reads the hello, its version and arch");
	b.len = 0;
	guest_encode_started(&b);
	tap_ok(host_reads(&b, &m) && m.type == VM_MSG_STARTED, "started");
	b.len = 0;
	guest_encode_out(&b, 2, bin, sizeof bin);
	tap_ok(host_reads(&b, &m) && m.type == VM_MSG_OUT && m.fd == 2 && m.len == sizeof bin &&
		       !memcmp(m.data, bin, sizeof bin),
	       "output bytes, every byte value, arrive as they were, on their stream");
	vm_msg_free(&m);
	b.len = 0;
	guest_encode_in_ack(&b, 4096);
	tap_ok(host_reads(&b, &m) && m.type == VM_MSG_IN_ACK && m.count == 4096, "an acknowledgement");
	b.len = 0;
	guest_encode_exit(&b, false, 255);
	tap_ok(host_reads(&b, &m) && m.type == VM_MSG_EXIT && !m.signaled && m.value == 255, "an exit status");
	b.len = 0;
	guest_encode_exit(&b, true, 9);
	tap_ok(host_reads(&b, &m) && m.type == VM_MSG_EXIT && m.signaled && m.value == 9, "a signal");
	b.len = 0;
	guest_encode_error(&b, "bad \xff byte, \"quotes\", \x1b[2J and\nnewline");
	tap_ok(host_reads(&b, &m) && m.type == VM_MSG_ERROR &&
		       !strcmp(m.text, "bad \xef\xbf\xbd byte, \"quotes\", \x1b[2J and\nnewline"),
	       "an error message of any bytes is valid JSON (invalid UTF-8 becomes U+FFFD)");
	guest_buf_free(&b);
}

static const char run_ok[] =
	"{\"t\":\"run\",\"argv\":[\"c2g=\"],\"env\":[],\"cwd\":\"Lw==\",\"mount_at\":\"/w\",\"share\":\"9p\","
	"\"sys\":false,\"net\":false,\"uid\":1,\"gid\":1,\"time\":[0,0],\"seed\":\"\",\"tmp_size\":0,\"pids\":0}";

static void guest_refusals(void)
{
	char *huge;
	guest_msg m;

	tap_ok(guest_reads(run_ok, &m), "a minimal request is read");
	guest_msg_free(&m);
	tap_ok(guest_refuses("nonsense", "unknown word"), "the guest refuses a line that is not JSON");
	tap_ok(guest_refuses("{\"t\":\"bye\"} x", "after the object"), "something after the object");
	tap_ok(guest_refuses("{\"t\":\"bye\",\"t\":\"bye\"}", "duplicate"), "a duplicate key");
	tap_ok(guest_refuses("{\"t\":\"bye\",\"x\":1}", "unknown field"), "an unknown field");
	tap_ok(guest_refuses("{\"t\":\"reboot\"}", "unknown message"), "an unknown message");
	tap_ok(guest_refuses("{\"t\":\"signal\",\"sig\":1.5}", "not an integer"), "a number that is not an integer");
	tap_ok(guest_refuses("{\"t\":\"signal\",\"sig\":65}", "out of range"), "a signal out of range");
	tap_ok(guest_refuses("{\"t\":\"signal\",\"sig\":99999999999999999999}", "out of range"), "a number too large for 64 bits");
	tap_ok(guest_refuses("{\"t\":\"signal\",\"sig\":015}", "leading zero"), "a leading zero");
	tap_ok(guest_refuses("{\"t\":\"in\",\"data\":\"aGk\"}", "base64"), "base64 without its padding");
	tap_ok(guest_refuses("{\"t\":\"in\",\"data\":\"aGl=\"}", "base64"), "base64 with bits set in the padding");
	tap_ok(guest_refuses("{\"t\":\"b\\u0000ye\"}", "NUL"), "a NUL in a string");
	tap_ok(guest_refuses("{\"t\":\"\\ud800\"}", "surrogate"), "a lone surrogate");
	tap_ok(guest_refuses("{\"t\":\"\xc0\xaf\"}", "UTF-8"), "an overlong UTF-8 form");
	tap_ok(guest_refuses("{\"t\":\"a\tb\"}", "control"), "a raw control character in a string");
	tap_ok(guest_refuses("{\"t\":\"bye\",\"a\":[[[[[[[[[[1]]]]]]]]]]}", "deeply"), "nesting without end");
	tap_ok(guest_refuses("{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1,\"j\":1,"
			     "\"k\":1,\"l\":1,\"m\":1,\"n\":1,\"o\":1,\"p\":1,\"q\":1,\"r\":1,\"s\":1,\"u\":1,\"v\":1,"
			     "\"w\":1,\"x\":1,\"y\":1,\"z\":1,\"A\":1,\"B\":1,\"C\":1,\"D\":1,\"E\":1,\"F\":1,\"G\":1,"
			     "\"H\":1}", "too many fields"),
	       "an object with more fields than any message");
	tap_ok(guest_refuses("[\"t\"]", "not an object"), "a line that is not an object");
	{
		char line[sizeof run_ok + 16];

		snprintf(line, sizeof line, "%s", run_ok);
		memcpy(strstr(line, "\"/w\""), "\"/.\"", 4);
		tap_ok(guest_refuses(line, "normal absolute path"), "a mount point with '.'");
		snprintf(line, sizeof line, "%s", run_ok);
		memcpy(strstr(line, "[\"c2g=\"]"), "[      ]", 8);
		tap_ok(guest_refuses(line, "argv is empty"), "an empty argv");
		snprintf(line, sizeof line, "%s", run_ok);
		memcpy(strstr(line, "\"uid\":1"), "\"uid\":0", 7);
		tap_ok(guest_refuses(line, "out of range"), "uid 0");
		snprintf(line, sizeof line, "%s", run_ok);
		memcpy(strstr(line, "\"c2g=\""), "\"AA==\"", 6);
		tap_ok(guest_refuses(line, "NUL"), "an argument holding a NUL byte");
	}
	huge = malloc(GUEST_LINE_MAX + 64);
	snprintf(huge, GUEST_LINE_MAX + 64, "{\"t\":\"in\",\"data\":\"%0*d\"}", GUEST_LINE_MAX, 0);
	tap_ok(guest_refuses(huge, "too long"), "a line over 64 KiB that is not the request");
	free(huge);
}

static void host_refusals(void)
{
	char *huge;

	tap_ok(host_refuses("{\"t\":\"out\",\"fd\":3,\"data\":\"aGk=\"}", "\"fd\" is out of range"),
	       "the host refuses output for a stream that does not exist");
	tap_ok(host_refuses("{\"t\":\"out\",\"fd\":1,\"data\":\"\"}", "empty"), "an empty output chunk");
	tap_ok(host_refuses("{\"t\":\"out\",\"fd\":1,\"data\":\"aGk\"}", "base64"), "output that is not base64");
	tap_ok(host_refuses("{\"t\":\"exit\",\"code\":256}", "out of range"), "an exit status over 255");
	tap_ok(host_refuses("{\"t\":\"exit\",\"signal\":0}", "out of range"), "signal 0");
	tap_ok(host_refuses("{\"t\":\"exit\",\"code\":1,\"signal\":9}", "unknown field"), "both a code and a signal");
	tap_ok(host_refuses("{\"t\":\"exit\",\"code\":1.0}", "not an integer"), "a real number");
	tap_ok(host_refuses("{\"t\":\"started\",\"t\":\"started\"}", "not JSON"), "a duplicate key");
	tap_ok(host_refuses("{\"t\":\"started\",\"x\":1}", "unknown field"), "an unknown field");
	tap_ok(host_refuses("{\"t\":\"hello\",\"v\":1}", "no \"arch\""), "a missing field");
	tap_ok(host_refuses("{\"t\":\"hello\",\"v\":1,\"arch\":\"../x\"}", "architecture"), "an architecture that is not a word");
	tap_ok(host_refuses("{\"t\":\"reboot\"}", "unknown type"), "an unknown type");
	tap_ok(host_refuses("{\"t\":\"started\"} {}", "not JSON"), "something after the object");
	{
		char line[] = "{\"t\":\"started\"}";

		line[3] = '\0';
		rls_error err;
		vm_msg m;

		tap_ok(vm_msg_decode(line, sizeof line - 1, &m, &err) < 0 && strstr(err.msg, "NUL"), "a NUL byte");
	}
	huge = malloc(VM_LINE_MAX + 64);
	snprintf(huge, VM_LINE_MAX + 64, "{\"t\":\"error\",\"msg\":\"%0*d\"}", VM_LINE_MAX, 0);
	tap_ok(host_refuses(huge, "longer than"), "a line over 64 KiB");
	free(huge);
	huge = malloc(50000);
	snprintf(huge, 50000, "{\"t\":\"out\",\"fd\":1,\"data\":\"%0*d\"}", 43696, 0);
	tap_ok(host_refuses(huge, "too long"), "an output chunk over 32 KiB");
	free(huge);
}

int main(void)
{
	run_round_trip();
	host_lines();
	guest_lines();
	guest_refusals();
	host_refusals();
	return tap_done();
}
