/* links.c - which symlinks a commit holds back, and the policies it
 * judges them by.
 *
 * A symlink the sandbox made is harmless inside the sandbox (rlsfs judges
 * every lookup through it), but once committed it is followed by everyone
 * else: the host's tools, editors, build systems, later sandboxes under
 * another policy.  So commit holds back a symlink whose target is absolute,
 * leads out of the tree, or reaches a path some policy the delta was served
 * under hides.  The target is resolved lexically from the link's folder,
 * one name at a time, as the kernel would resolve it in the tree the commit
 * leaves: a name that is a symlink there (the delta's, or the source's where
 * the delta shows the source) is replaced by its target, so chains and ".."
 * through symlinked folders are followed; a name that does not exist is
 * taken as a folder (it may be made later).
 *
 * The policies come from the delta: rlsfs records the spec it mounts with
 * (delta_note_policy) under "policies" in the meta database, as
 * NUL-separated preset names and absolute file paths; commit loads each
 * again, so a policy file edited since is judged as it is now.  A policy
 * that no longer loads holds back every symlink it would have judged.
 */
#include "delta-int.h"
#include "../policy/policy.h"

#include <sys/stat.h>

#define LINK_HOPS_MAX 40	/* the kernel's MAXSYMLINKS */

int delta_note_policy(delta *d, const char *spec, rls_error *err)
{
	_cleanup_free_ char *old = NULL;
	_cleanup_buf_ rls_buf v = { 0 };
	size_t len = 0, slen = strlen(spec);
	delta_txn *txn;
	bool wrote;
	int r;

	if (!slen)
		return rls_error_set(err, EINVAL, "delta: empty policy name");
	if (delta_begin(d, true, &txn, err) < 0)
		return -1;
	r = delta_meta_get(txn, "policies", &old, &len, err);
	if (r < 0)
		goto fail;
	for (size_t i = 0; r == 0 && i < len; i += strlen(old + i) + 1) {
		if (!strcmp(old + i, spec)) {
			delta_abort(txn);
			return 0;
		}
	}
	if (r == 0)
		rls_buf_add(&v, old, len);
	rls_buf_add(&v, spec, slen + 1);
	if (delta_meta_put(txn, "policies", v.data, v.len, err) < 0)
		goto fail;
	/* The note alone does not make the close sync: it matters only
	 * beside changes, and their sync carries it. */
	wrote = d->wrote;
	r = delta_commit_txn(txn, err);
	d->wrote = wrote;
	return r;
fail:
	delta_abort(txn);
	return -1;
}

int delta_forget_policies(delta_txn *txn, rls_error *err)
{
	return delta_meta_del(txn, "policies", err) < 0 ? -1 : 0;
}

int delta_links_init(delta_links *l, delta *d, const delta_entry *e, size_t n, rls_error *err)
{
	_cleanup_free_ char *specs = NULL;
	delta_txn *txn;
	size_t len = 0;
	int r;

	memset(l, 0, sizeof *l);
	l->d = d;
	l->e = e;
	l->n = n;
	if (delta_begin(d, false, &txn, err) < 0)
		return -1;
	r = delta_meta_get(txn, "policies", &specs, &len, err);
	delta_abort(txn);
	if (r < 0)
		return -1;
	/* A value read from disk: each spec ends at a NUL, the last one at
	 * the end of the value (delta_meta_get adds a NUL after it). */
	for (size_t i = 0; r == 0 && i < len; i += strlen(specs + i) + 1) {
		policy *pol;
		rls_error perr;

		if (!specs[i])
			continue;
		if (policy_load(specs + i, &pol, &perr) < 0) {
			if (!l->pols_failed)
				l->pols_error = rls_xstrdup(perr.msg);
			l->pols_failed = true;
			continue;
		}
		l->pols = rls_xrealloc(l->pols, (l->n_pols + 1) * sizeof *l->pols);
		l->pols[l->n_pols++] = pol;
	}
	return 0;
}

void delta_links_free(delta_links *l)
{
	for (size_t i = 0; i < l->n_pols; i++)
		policy_free(l->pols[i]);
	free(l->pols);
	free(l->pols_error);
	memset(l, 0, sizeof *l);
}

static int entry_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const delta_entry *)elem)->path);
}

enum node_type { NODE_ABSENT, NODE_DIR, NODE_OTHER, NODE_LINK, NODE_ERROR };

/* What `path` (not "/") is in the tree the commit leaves; `parent_merged`
 * says whether its parent shows the source's entries.  A symlink's target
 * goes to `target`; *merged is set for a folder. */
static enum node_type lookup(const delta_links *l, const char *path, bool parent_merged, bool *merged,
			     char *target, size_t cap)
{
	const delta_entry *e = bsearch(path, l->e, l->n, sizeof *l->e, entry_cmp);
	char sp[DELTA_PATH_MAX * 2];
	struct stat st;
	bool src_dir;
	rls_error err;
	ssize_t n;

	*merged = false;
	if (delta_source_path(l->d, path, sp, sizeof sp, &err) < 0)
		return NODE_ERROR;
	/* The parents are folders of the source (merged) all the way up, so
	 * lstat walks no symlink but the last name's, which it does not
	 * follow. */
	if (parent_merged && lstat(sp, &st) < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			return NODE_ERROR;
		parent_merged = false;
	}
	src_dir = parent_merged && S_ISDIR(st.st_mode);
	if (e) {
		switch (e->kind) {
		case DELTA_WHITEOUT:
			return NODE_ABSENT;
		case DELTA_SYMLINK:
			snprintf(target, cap, "%s", e->target ? e->target : "");
			return NODE_LINK;
		case DELTA_DIR:
			*merged = src_dir && !(e->flags & DELTA_OPAQUE);
			return NODE_DIR;
		default:
			return NODE_OTHER;
		}
	}
	if (!parent_merged)
		return NODE_ABSENT;
	if (S_ISDIR(st.st_mode)) {
		*merged = true;
		return NODE_DIR;
	}
	if (!S_ISLNK(st.st_mode))
		return NODE_OTHER;
	n = readlink(sp, target, cap - 1);
	if (n < 0)
		return NODE_ERROR;
	target[n] = '\0';
	return NODE_LINK;
}

/* Is `path` hidden by a recorded policy?  A path that does not exist is
 * judged as a file and as a folder. */
static bool hidden(const delta_links *l, const char *path, enum node_type type)
{
	for (size_t i = 0; i < l->n_pols; i++) {
		if (type != NODE_DIR && policy_decide(l->pols[i], path, false, NULL) == POLICY_NONE)
			return true;
		if ((type == NODE_DIR || type == NODE_ABSENT) &&
		    policy_decide(l->pols[i], path, true, NULL) == POLICY_NONE)
			return true;
	}
	return false;
}

/* The next name of the NUL-terminated list of names `*rest` ("a/b/c"),
 * copied to name; false when there is none. */
static bool next_name(const char **rest, char *name, size_t cap)
{
	const char *p = *rest, *slash;
	size_t n;

	while (*p == '/')
		p++;
	if (!*p)
		return false;
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (n >= cap)
		n = cap - 1;	/* longer than NAME_MAX: no such name anyway */
	memcpy(name, p, n);
	name[n] = '\0';
	*rest = slash ? slash : p + strlen(p);
	return true;
}

const char *delta_link_held(const delta_links *l, const char *path, const char *target)
{
	/* The path reached so far ("" for the root), one merged flag per
	 * level, and what is left to resolve. */
	char cur[DELTA_PATH_MAX * 2], name[DELTA_PATH_MAX], link[DELTA_PATH_MAX];
	bool merged[DELTA_PATH_MAX];
	size_t depth = 0, len;
	_cleanup_buf_ rls_buf todo = { 0 };
	const char *rest, *slash = strrchr(path, '/');
	enum node_type type = NODE_DIR;
	unsigned hops = 0;

	if (target[0] == '/')
		return "absolute target";
	if (l->pols_failed)
		return "its policy cannot be loaded";
	/* Start in the link's folder, every level of which is a folder. */
	cur[0] = '\0';
	merged[0] = true;
	len = 0;
	rls_buf_add(&todo, path, slash ? (size_t)(slash - path) : 0);
	rls_buf_add(&todo, "", 0);
	for (rest = todo.data; next_name(&rest, name, sizeof name);) {
		bool m;

		len += (size_t)snprintf(cur + len, sizeof cur - len, "/%s", name);
		if (len >= sizeof cur || depth + 1 >= RLS_ARRAY_SIZE(merged))
			return "cannot be resolved";
		type = lookup(l, cur, merged[depth], &m, link, sizeof link);
		merged[++depth] = type == NODE_DIR ? m : false;
	}
	{
		_cleanup_buf_ rls_buf t = { 0 };

		rls_buf_adds(&t, target);
		rls_buf_free(&todo);
		todo = t;
		t = (rls_buf){ 0 };
	}
	type = NODE_DIR;
	for (rest = todo.data; next_name(&rest, name, sizeof name);) {
		bool m;

		if (!strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			if (depth == 0)
				return "leaves the tree";
			while (len > 0 && cur[len - 1] != '/')
				len--;
			cur[--len] = '\0';
			depth--;
			type = NODE_DIR;
			continue;
		}
		len += (size_t)snprintf(cur + len, sizeof cur - len, "/%s", name);
		if (len >= sizeof cur || depth + 1 >= RLS_ARRAY_SIZE(merged))
			return "cannot be resolved";
		type = lookup(l, cur, merged[depth], &m, link, sizeof link);
		if (type == NODE_ERROR)
			return "cannot be resolved";
		if (type != NODE_LINK) {
			merged[++depth] = type == NODE_DIR ? m : false;
			continue;
		}
		/* A symlink on the way: go on from its folder with its target
		 * and what is left of ours. */
		if (++hops > LINK_HOPS_MAX)
			return "symlink loop";
		if (hidden(l, cur, NODE_OTHER))
			return "reaches hidden content";
		if (link[0] == '/')
			return "leaves the tree";
		while (len > 0 && cur[len - 1] != '/')
			len--;
		cur[--len] = '\0';
		{
			_cleanup_buf_ rls_buf t = { 0 };

			rls_buf_adds(&t, link);
			rls_buf_addc(&t, '/');
			rls_buf_adds(&t, rest);
			rls_buf_free(&todo);
			todo = t;
			t = (rls_buf){ 0 };
			rest = todo.data;
		}
		type = NODE_DIR;
	}
	/* the root is always visible: it is the mount itself */
	if (len && hidden(l, cur, type))
		return "reaches hidden content";
	return NULL;
}
