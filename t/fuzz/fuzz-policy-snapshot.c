/* fuzz-policy-snapshot.c - libFuzzer target: the input is the content of a
 * policy snapshot (rlsfs --policy-fd), sealed in a memfd as rls seals it;
 * it loads or is refused, never read past its end.  The same input is
 * also made the one file of a snapshot, its length as given off by a few
 * bytes either way as its first byte says, so that the loader behind the
 * decoder is reached too, and lengths that overrun. */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../policy/policy.h"

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static void try_load(const void *data, size_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	policy *pol = NULL;
	rls_error err;

	if (fd < 0)
		return;
	if (rls_write_all(fd, data, size) == 0 && fcntl(fd, F_ADD_SEALS, SEALS) == 0 &&
	    policy_load_snapshot(fd, &pol, &err) == 0)
		policy_free(pol);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rls_buf b = { 0 };
	long len = (long)size + (size ? (long)(data[0] % 7) - 3 : 0);

	try_load(data, size);
	/* The same bytes as the one file of a snapshot. */
	rls_buf_adds(&b, "rls-policy-snapshot 1\n./p.yml");
	rls_buf_addc(&b, '\0');
	rls_buf_adds(&b, "./p.yml");
	rls_buf_addc(&b, '\0');
	rls_buf_adds(&b, "/p.yml");
	rls_buf_addc(&b, '\0');
	rls_buf_printf(&b, "%ld", len < 0 ? 0 : len);
	rls_buf_addc(&b, '\0');
	rls_buf_add(&b, data, size);
	try_load(b.data, b.len);
	rls_buf_free(&b);
	return 0;
}
