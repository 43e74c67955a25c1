/* index-writer.c - hold a delta's index writer lock, for the tests.
 *
 *   index-writer DELTA   begins a write transaction on DELTA's index,
 *                        prints "held", and aborts it when standard input
 *                        ends.
 *
 * Every change rlsfs makes to a delta waits for that lock: while it is
 * held here, a write through the mount is a request that waits in the
 * daemon, as one waiting on a slow disk would.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	char path[4096];
	MDB_env *env;
	MDB_txn *txn;
	int rc, c;

	if (argc != 2) {
		fprintf(stderr, "usage: index-writer DELTA\n");
		return 2;
	}
	snprintf(path, sizeof path, "%s/index", argv[1]);
	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 8)) ||
	    (rc = mdb_env_open(env, path, MDB_NOTLS, 0600)) || (rc = mdb_txn_begin(env, NULL, 0, &txn))) {
		fprintf(stderr, "index-writer: %s: %s\n", path, mdb_strerror(rc));
		return 1;
	}
	printf("held\n");
	fflush(stdout);
	while ((c = getchar()) != EOF)
		;
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return 0;
}
