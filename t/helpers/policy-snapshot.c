/* policy-snapshot - run a command with a snapshot of a policy on fd 3, as
 * `rls run` hands one to rlsfs (t/0217-policy-snapshot.t).
 *
 *   policy-snapshot [--swap FILE NEW] [--unsealed | --cut N] SPEC SOURCE -- CMD [ARG...]
 *
 * The snapshot is taken as rls takes it (policy_check_for_source).  Then
 * --swap renames NEW over FILE, as whoever can write the policy could
 * between two reads of it; --unsealed hands on the same bytes in a memfd
 * left unsealed, --cut N only their first N bytes (sealed).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../policy/policy.h"

static void die(const char *what)
{
	fprintf(stderr, "policy-snapshot: %s\n", what);
	exit(99);
}

int main(int argc, char **argv)
{
	const char *swap = NULL, *swap_new = NULL;
	bool unsealed = false;
	long cut = -1;
	int i = 1, fd;
	rls_error err;
	policy *pol;

	for (; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--swap") && i + 2 < argc) {
			swap = argv[++i];
			swap_new = argv[++i];
		} else if (!strcmp(argv[i], "--unsealed")) {
			unsealed = true;
		} else if (!strcmp(argv[i], "--cut") && i + 1 < argc) {
			cut = atol(argv[++i]);
		} else {
			die("usage: policy-snapshot [--swap FILE NEW] [--unsealed | --cut N] SPEC SOURCE -- CMD...");
		}
	}
	if (argc - i < 4 || strcmp(argv[i + 2], "--"))
		die("usage: policy-snapshot [--swap FILE NEW] [--unsealed | --cut N] SPEC SOURCE -- CMD...");
	if (policy_check_for_source(argv[i], argv[i + 1], &pol, &err) < 0)
		die(err.msg);
	fd = policy_snapshot_fd(pol, &err);
	if (fd < 0)
		die(err.msg);
	policy_free(pol);
	if (unsealed || cut >= 0) {
		struct stat st;
		char *buf;
		int copy = memfd_create("copy", MFD_CLOEXEC | MFD_ALLOW_SEALING);

		if (copy < 0 || fstat(fd, &st) < 0 || !(buf = malloc((size_t)st.st_size + 1)) ||
		    pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
			die("copy");
		if (cut >= 0 && cut < st.st_size)
			st.st_size = cut;
		if (write(copy, buf, (size_t)st.st_size) != st.st_size)
			die("copy");
		if (!unsealed && fcntl(copy, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
			die("seal");
		close(fd);
		fd = copy;
		free(buf);
	}
	if (swap && rename(swap_new, swap) < 0)
		die("rename");
	if (fd == 3 ? fcntl(fd, F_SETFD, 0) < 0 : dup2(fd, 3) < 0)
		die("fd 3");
	execvp(argv[i + 3], argv + i + 3);
	die("exec");
}
