/* fuzz-guest-proto.c - libFuzzer target: rls-guest's reader of the host's
 * lines (guest_decode, the hand-written strict JSON in guest/proto.c).
 * Each line must decode to one checked message or fail with a reason;
 * what decodes must hold what guest.h promises.  The guest's encoder must
 * always write valid lines (they are decoded again by the host's jansson
 * reader in t/unit/vm-proto.c).  The base64 codec both ends share
 * (common/codec.c) is fuzzed by fuzz-vm-proto. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../guest/guest.h"

static void check_run(const guest_run *r)
{
	if (!r->argc || !r->argv || r->argv[r->argc] || !r->env || r->env[r->envc])
		abort();
	for (size_t i = 0; i < r->envc; i++)
		if (!strchr(r->env[i], '=') || r->env[i][0] == '=')
			abort();
	if (r->cwd[0] != '/' || r->mount_at[0] != '/' || !r->uid || !r->gid || r->seed_len > sizeof r->seed)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		guest_msg m;
		char why[256];

		if (guest_decode(p, len, &m, why, sizeof why) == 0) {
			if (m.type == GUEST_MSG_RUN)
				check_run(&m.run);
			if (m.type == GUEST_MSG_IN && m.len > GUEST_CHUNK_MAX)
				abort();
			if (m.type == GUEST_MSG_SIGNAL && (m.sig < 1 || m.sig > 64))
				abort();
			guest_msg_free(&m);
		} else if (!why[0]) {
			abort();	/* a failure always says why */
		}
		p += len + 1;
	}
	return 0;
}
