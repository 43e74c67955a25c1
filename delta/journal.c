/* journal.c - the commit journal in the index's "meta" table: a header
 * ("journal") and one record per op ("journal/%08x"), encoded by records.c.
 * Every write is its own durable transaction. */
#include "commit-int.h"

#include <time.h>

void delta_free_ops(struct delta_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(ops[i].path);
		free(ops[i].target);
		free(ops[i].link);
	}
	free(ops);
}

static void op_key(char buf[24], size_t i)
{
	snprintf(buf, 24, "journal/%08zx", i);
}

/* Write the journal header in its own durable transaction. */
int delta_journal_mark(struct delta_run *r, rls_error *err)
{
	delta_txn *txn;
	uint8_t buf[24];

	delta_pack_journal(&r->j, buf);
	if (delta_begin(r->d, true, &txn, err) < 0)
		return -1;
	if (delta_meta_put(txn, "journal", buf, sizeof buf, err) < 0) {
		delta_abort(txn);
		return -1;
	}
	if (delta_commit_txn(txn, err) < 0 || delta_sync(r->d, err) < 0)
		return -1;
	return 0;
}

int delta_journal_write(struct delta_run *r, rls_error *err)
{
	_cleanup_buf_ rls_buf b = { 0 };
	delta_txn *txn;
	uint8_t hdr[24];
	char key[24];

	if (delta_begin(r->d, true, &txn, err) < 0)
		return -1;
	for (size_t i = 0; i < r->n_ops; i++) {
		delta_pack_op(&b, &r->ops[i]);
		op_key(key, i);
		if (delta_meta_put(txn, key, b.data, b.len, err) < 0)
			goto fail;
	}
	delta_pack_journal(&r->j, hdr);
	if (delta_meta_put(txn, "journal", hdr, sizeof hdr, err) < 0)
		goto fail;
	if (delta_commit_txn(txn, err) < 0 || delta_sync(r->d, err) < 0)
		return -1;
	return 0;
fail:
	delta_abort(txn);
	return -1;
}

int delta_journal_read(delta *d, struct delta_journal *j, struct delta_op **ops, rls_error *err)
{
	delta_txn *txn;
	_cleanup_free_ char *hdr = NULL;
	size_t len;
	struct delta_op *v = NULL;
	int r;

	if (delta_begin(d, false, &txn, err) < 0)
		return -1;
	r = delta_meta_get(txn, "journal", &hdr, &len, err);
	if (r != 0) {
		delta_abort(txn);
		return r;
	}
	if (delta_unpack_journal(hdr, len, j) < 0) {
		delta_abort(txn);
		return rls_error_set(err, EIO, "%s: damaged commit journal", d->path);
	}
	if (ops) {
		/* Grown as ops are read: n_ops is read from disk, and a damaged
		 * one must fail on a missing op, not on an allocation. */
		size_t cap = 0;

		for (size_t i = 0; i < j->n_ops; i++) {
			char key[24];
			_cleanup_free_ char *val = NULL;

			if (i == cap) {
				cap = cap ? 2 * cap : 64;
				v = rls_xrealloc(v, cap * sizeof *v);
			}
			op_key(key, i);
			if (delta_meta_get(txn, key, &val, &len, err) != 0 || delta_unpack_op(val, len, &v[i]) < 0) {
				delta_abort(txn);
				delta_free_ops(v, i);
				return rls_error_set(err, EIO, "%s: damaged commit journal (op %zu)", d->path, i);
			}
		}
		*ops = v ? v : rls_xcalloc(1, sizeof *v);
	}
	delta_abort(txn);
	return 0;
}

/* Entries of the index that outlive a commit: the symlinks it held back. */
struct kept {
	char *path;
	delta_node node;
	delta_inode ino;
	bool has_ino;
};

/* Read the entries the DELTA_OP_HOLD ops name (before the index is cleared). */
static int kept_read(delta_txn *txn, const struct delta_op *ops, size_t n_ops, struct kept **out, size_t *n_out,
		     rls_error *err)
{
	struct kept *k = NULL;
	size_t n = 0;
	int r;

	for (size_t i = 0; i < n_ops; i++) {
		if (ops[i].kind != DELTA_OP_HOLD)
			continue;
		k = rls_xrealloc(k, (n + 1) * sizeof *k);
		memset(&k[n], 0, sizeof k[n]);
		k[n].path = ops[i].path;
		r = delta_get(txn, ops[i].path, &k[n].node, err);
		if (r < 0)
			goto fail;
		if (r == 1 || k[n].node.kind != DELTA_SYMLINK)
			continue;	/* not there (a second recovery): nothing to keep */
		r = k[n].node.id ? delta_get_inode(txn, k[n].node.id, &k[n].ino, err) : 1;
		if (r < 0)
			goto fail;
		k[n++].has_ino = r == 0;
	}
	*out = k;
	*n_out = n;
	return 0;
fail:
	free(k);
	return -1;
}

/* Remove the journal; with `clear_index` also every node and inode but
 * the symlinks held back, in the same transaction so no state is half one
 * and half the other. */
int delta_journal_finish(delta *d, bool clear_index, struct delta_journal *j, const struct delta_op *ops, size_t n_ops,
			  rls_error *err)
{
	delta_txn *txn;
	char key[24], epoch[32];
	struct timespec now;

	if (delta_begin(d, true, &txn, err) < 0)
		return -1;
	if (clear_index) {
		uint8_t hdr[24];
		_cleanup_free_ struct kept *kept = NULL;
		size_t n_kept = 0;

		if (kept_read(txn, ops, n_ops, &kept, &n_kept, err) < 0 || delta_clear_index(txn, err) < 0)
			goto fail;
		for (size_t i = 0; i < n_kept; i++) {
			if (delta_put(txn, kept[i].path, &kept[i].node, err) < 0 ||
			    (kept[i].has_ino && delta_put_inode(txn, kept[i].node.id, &kept[i].ino, err) < 0))
				goto fail;
		}
		/* The policies judge the symlinks kept; with none, the delta
		 * starts over. */
		if (!n_kept && delta_forget_policies(txn, err) < 0)
			goto fail;
		/* Conflict checks of nodes without a base compare against the
		 * time the (now empty) delta starts over. */
		clock_gettime(CLOCK_REALTIME, &now);
		snprintf(epoch, sizeof epoch, "%lld", (long long)delta_ts_ns(&now));
		if (delta_meta_put(txn, "epoch", epoch, strlen(epoch), err) < 0)
			goto fail;
		j->phase = 2;
		delta_pack_journal(j, hdr);
		if (delta_meta_put(txn, "journal", hdr, sizeof hdr, err) < 0)
			goto fail;
	} else {
		for (size_t i = 0; i < j->n_ops; i++) {
			op_key(key, i);
			if (delta_meta_del(txn, key, err) < 0)
				goto fail;
		}
		if (delta_meta_del(txn, "journal", err) < 0)
			goto fail;
	}
	if (delta_commit_txn(txn, err) < 0 || delta_sync(d, err) < 0)
		return -1;
	return 0;
fail:
	delta_abort(txn);
	return -1;
}
