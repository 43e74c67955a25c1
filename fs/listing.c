/* listing.c - the listings of folders rlsfs has taken: held by an open
 * directory handle, or kept on the folder's node for the kernel to read on
 * by offset when it opens folders without asking (see rls_opendir).
 *
 * Every listing is charged to the mount (--max-dir-memory): the sandbox
 * can have as many folders read at once as it likes, each a copy of a
 * listing in rlsfs's memory, which no memory limit of the sandbox's
 * covers.  A kept listing is a cache: it goes when the kernel has read it
 * to its end, when its node is forgotten, and, whenever a new listing
 * would pass the bound, when nothing is reading it. */
#include "internal.h"

static void kept_unlink(rlsfs *fs, dir_handle *dh)
{
	if (dh->kprev)
		dh->kprev->knext = dh->knext;
	else
		fs->kept = dh->knext;
	if (dh->knext)
		dh->knext->kprev = dh->kprev;
	dh->kprev = dh->knext = NULL;
	dh->node->kept = NULL;
	dh->node = NULL;
}

/* Drop every kept listing nothing reads; true if any went. */
static bool kept_evict(rlsfs *fs)
{
	dir_handle *gone = NULL;
	bool any;

	pthread_mutex_lock(&fs->kept_lock);
	for (dir_handle *dh = fs->kept, *next; dh; dh = next) {
		next = dh->knext;
		if (dh->refs == 0) {
			kept_unlink(fs, dh);
			dh->knext = gone;
			gone = dh;
		}
	}
	pthread_mutex_unlock(&fs->kept_lock);
	any = gone != NULL;
	for (dir_handle *next; gone; gone = next) {
		next = gone->knext;
		dh_free(gone);
	}
	return any;
}

bool dh_charge(dir_handle *dh, size_t bytes)
{
	rlsfs *fs = dh->fs;

	for (bool evicted = false;; evicted = true) {
		size_t now = atomic_fetch_add(&fs->dir_bytes, bytes) + bytes;

		if (!fs->dir_bytes_max || now <= fs->dir_bytes_max)
			break;
		atomic_fetch_sub(&fs->dir_bytes, bytes);
		if (evicted || !kept_evict(fs)) {
			dh->full = true;
			return false;
		}
	}
	dh->bytes += bytes;
	return true;
}

dir_handle *dh_new(rlsfs *fs)
{
	dir_handle *dh = rls_xcalloc(1, sizeof *dh);

	dh->fs = fs;
	pthread_mutex_init(&dh->lock, NULL);
	dh_charge(dh, sizeof *dh);
	return dh;
}

void dh_add(dir_handle *dh, const char *name, ino_t ino, mode_t type, policy_level level)
{
	/* what malloc takes for the copy of the name, header included */
	size_t len = (strlen(name) + 1 + 8 + 15) & ~(size_t)15;

	if (dh->full || !dh_charge(dh, len < 32 ? 32 : len))
		return;
	if (dh->n == dh->cap) {
		size_t cap = dh->cap ? dh->cap * 2 : 64;

		if (!dh_charge(dh, (cap - dh->cap) * sizeof *dh->ents))
			return;
		dh->cap = cap;
		dh->ents = rls_xrealloc(dh->ents, dh->cap * sizeof *dh->ents);
	}
	dh->ents[dh->n].name = rls_xstrdup(name);
	dh->ents[dh->n].ino = ino;
	dh->ents[dh->n].type = type;
	dh->ents[dh->n].level = level;
	dh->n++;
}

void dh_free(dir_handle *dh)
{
	pthread_mutex_destroy(&dh->lock);
	atomic_fetch_sub(&dh->fs->dir_bytes, dh->bytes);
	for (size_t i = 0; i < dh->n; i++)
		free(dh->ents[i].name);
	free(dh->ents);
	free(dh);
}

dir_handle *listing_get(rlsfs *fs, rnode *n)
{
	dir_handle *dh;

	pthread_mutex_lock(&fs->kept_lock);
	dh = n->kept;
	if (dh)
		dh->refs++;
	pthread_mutex_unlock(&fs->kept_lock);
	return dh;
}

/* n's kept listing is kept no more: the listing to free now, or NULL
 * (none, or its last reader frees it).  Under kept_lock. */
static dir_handle *unkeep_locked(rlsfs *fs, rnode *n)
{
	dir_handle *dh = n->kept;

	if (!dh)
		return NULL;
	kept_unlink(fs, dh);
	return dh->refs ? NULL : dh;
}

void listing_keep(rlsfs *fs, rnode *n, dir_handle *dh)
{
	dir_handle *old;

	pthread_mutex_lock(&fs->kept_lock);
	old = unkeep_locked(fs, n);
	dh->refs++;
	dh->node = n;
	n->kept = dh;
	dh->knext = fs->kept;
	if (fs->kept)
		fs->kept->kprev = dh;
	fs->kept = dh;
	pthread_mutex_unlock(&fs->kept_lock);
	if (old)
		dh_free(old);
}

void listing_put(rlsfs *fs, dir_handle *dh, bool done)
{
	bool free_it;

	pthread_mutex_lock(&fs->kept_lock);
	if (done && dh->node)
		kept_unlink(fs, dh);
	free_it = --dh->refs == 0 && !dh->node;
	pthread_mutex_unlock(&fs->kept_lock);
	if (free_it)
		dh_free(dh);
}

void listing_forget(rlsfs *fs, rnode *n)
{
	dir_handle *dh;

	pthread_mutex_lock(&fs->kept_lock);
	dh = unkeep_locked(fs, n);
	pthread_mutex_unlock(&fs->kept_lock);
	if (dh)
		dh_free(dh);
}
