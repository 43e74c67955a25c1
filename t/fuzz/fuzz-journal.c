/* fuzz-journal.c - libFuzzer target: the decoders of the commit journal
 * (its header and its ops), which recovery reads back after a crash and
 * may find damaged.  The first byte picks the decoder, the rest is the
 * record.  An op that decodes names paths as the index writes them (never
 * "/", never with "." or ".."), and encodes back to an op that decodes to
 * the same thing. */
#include <stdint.h>
#include <stdlib.h>

#include "../../delta/delta-int.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void op(const uint8_t *p, size_t n)
{
	struct delta_op a, b;
	rls_buf buf = { 0 };

	if (delta_unpack_op(p, n, &a) < 0) {
		CHECK(!a.path && !a.target && !a.link);
		return;
	}
	CHECK(a.kind >= DELTA_OP_DEL && a.kind <= DELTA_OP_HOLD);
	CHECK(a.path && delta_path_ok(a.path, strlen(a.path)) && strcmp(a.path, "/"));
	CHECK(a.kind != DELTA_OP_LINK || (a.target && delta_path_ok(a.target, strlen(a.target))));
	CHECK(!(a.flags & DELTA_OPF_MOVE) || a.data_ino);
	CHECK(!a.link || ((a.kind == DELTA_OP_SYMLINK || a.kind == DELTA_OP_NODE) &&
			  delta_path_ok(a.link, strlen(a.link))));
	delta_pack_op(&buf, &a);
	CHECK(delta_unpack_op(buf.data, buf.len, &b) == 0);
	CHECK(a.kind == b.kind && a.flags == b.flags && a.id == b.id && a.mode == b.mode && a.size == b.size);
	CHECK(a.data_dev == b.data_dev && a.data_ino == b.data_ino && a.tmp == b.tmp);
	CHECK(same_str(a.path, b.path) && same_str(a.target, b.target) && same_str(a.link, b.link));
	free(a.path);
	free(a.target);
	free(a.link);
	free(b.path);
	free(b.target);
	free(b.link);
	rls_buf_free(&buf);
}

static void header(const uint8_t *p, size_t n)
{
	struct delta_journal a, b;
	uint8_t buf[DELTA_JOURNAL_SIZE];

	if (delta_unpack_journal(p, n, &a) < 0)
		return;
	CHECK(n == DELTA_JOURNAL_SIZE && a.done <= a.n_ops && (a.phase == 1 || a.phase == 2));
	delta_pack_journal(&a, buf);
	CHECK(delta_unpack_journal(buf, sizeof buf, &b) == 0);
	CHECK(a.nonce == b.nonce && a.n_ops == b.n_ops && a.done == b.done && a.phase == b.phase);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size == 0)
		return 0;
	copy = malloc(size - 1 ? size - 1 : 1);
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 1)
		header(copy, size - 1);
	else
		op(copy, size - 1);
	free(copy);
	return 0;
}
