/* fuzz-vm-proto.c - libFuzzer target: the host's reader of the guest's
 * lines (vm_msg_decode, with jansson).  The input is split into lines as
 * vm_run splits what comes over the port; every line must decode to one
 * well-formed message or fail cleanly, never crash or read past it.  The
 * base64 codec must round-trip whatever it is given. */
#include <stdint.h>

#include "../../vm/vmint.h"

static void check_message(const vm_msg *m)
{
	switch (m->type) {
	case VM_MSG_OUT:
		if (!m->data || !m->len || m->len > 32768 || (m->fd != 1 && m->fd != 2))
			abort();
		break;
	case VM_MSG_EXIT:
		if (m->signaled ? m->value < 1 || m->value > 64 : m->value < 0 || m->value > 255)
			abort();
		break;
	case VM_MSG_HELLO:
		if (strlen(m->arch) >= sizeof m->arch)
			abort();
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	char *enc = malloc(size / 3 * 4 + 8);
	unsigned char *dec = malloc(size + 8);
	size_t n;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		vm_msg m;
		rls_error err;

		if (vm_msg_decode(p, len, &m, &err) == 0) {
			check_message(&m);
			vm_msg_free(&m);
		}
		p += len + 1;
	}
	/* base64: the decoder takes only what the encoder makes */
	n = rls_b64_encode(data, size, enc);
	if (rls_b64_decode(enc, n, dec, &n) < 0 || n != size || memcmp(dec, data, size))
		abort();
	if (rls_b64_decode((const char *)data, size, dec, &n) == 0) {
		size_t m = rls_b64_encode(dec, n, enc);

		if (m != size || memcmp(enc, data, size))
			abort();
	}
	free(enc);
	free(dec);
	return 0;
}
