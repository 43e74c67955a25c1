/* node.c - the table of nodes the kernel knows, keyed by (parent, name),
 * and the hard links among them. */
#include "internal.h"

/* The hash of (parent, name), kept in the node: computed once a request,
 * not again to insert, remove or move the node in the table. */
static uint64_t node_hash(const rnode *parent, const char *name)
{
	uint64_t h = (uint64_t)(uintptr_t)parent * 0x9e3779b97f4a7c15ull;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static void drop_fd(rlsfs *fs, rnode *n)
{
	int fd = atomic_exchange(&n->srcfd, -1);

	if (fd >= 0) {
		close(fd);
		atomic_fetch_sub(&fs->srcfds, 1);
	}
}

/* Give n a nodeid: a free slot, or a new one (nodes_lock held).  Slots 0
 * and 1 are never used: 0 is no node, 1 the root. */
static void slot_assign(rlsfs *fs, rnode *n)
{
	uint32_t slot;
	rnode_chunk *c;

	if (fs->n_free) {
		slot = fs->free_slots[--fs->n_free];
	} else {
		if (fs->slots_used == (uint32_t)((uint64_t)RLSFS_CHUNKS * RLSFS_SLOTS_PER_CHUNK - 1))
			rls_die_oom();	/* 268 million nodes: memory ran out long before */
		slot = fs->slots_used++;
	}
	c = atomic_load(&fs->chunks[slot >> RLSFS_SLOT_BITS]);
	if (!c) {
		c = rls_xcalloc(1, sizeof *c);
		atomic_store(&fs->chunks[slot >> RLSFS_SLOT_BITS], c);
	}
	n->nodeid = (uint64_t)c->gen[slot & (RLSFS_SLOTS_PER_CHUNK - 1)] << 32 | slot;
	atomic_store(&c->node[slot & (RLSFS_SLOTS_PER_CHUNK - 1)], n);
}

/* The slot of a node being freed goes back, with a new generation, so a
 * later node there never has the same nodeid (nodes_lock held). */
static void slot_release(rlsfs *fs, rnode *n)
{
	uint32_t slot = (uint32_t)n->nodeid;
	rnode_chunk *c = atomic_load(&fs->chunks[slot >> RLSFS_SLOT_BITS]);

	atomic_store(&c->node[slot & (RLSFS_SLOTS_PER_CHUNK - 1)], NULL);
	c->gen[slot & (RLSFS_SLOTS_PER_CHUNK - 1)]++;
	if (fs->n_free == fs->cap_free) {
		fs->cap_free = fs->cap_free ? 2 * fs->cap_free : 1024;
		fs->free_slots = rls_xrealloc(fs->free_slots, fs->cap_free * sizeof *fs->free_slots);
	}
	fs->free_slots[fs->n_free++] = slot;
}

void node_table_init(rlsfs *fs)
{
	pthread_mutex_init(&fs->nodes_lock, NULL);
	pthread_mutex_init(&fs->kept_lock, NULL);
	fs->table_size = 1024;
	fs->table = rls_xcalloc(fs->table_size, sizeof *fs->table);
	fs->chunks = rls_xcalloc(RLSFS_CHUNKS, sizeof *fs->chunks);
	fs->slots_used = 2;
	fs->root.nodeid = FUSE_ROOT_ID;
	fs->root.name = rls_xstrdup("");
	fs->root.type = S_IFDIR;
	fs->root.merged = true;
	fs->root.nlookup = 2;	/* never freed */
	atomic_init(&fs->root.srcfd, -1);
}

void node_table_free(rlsfs *fs)
{
	/* Every node has a slot, detached ones too.  Slots are handed out
	 * in order: no chunk past the last slot's was ever made. */
	size_t chunks = ((size_t)fs->slots_used + RLSFS_SLOTS_PER_CHUNK - 1) >> RLSFS_SLOT_BITS;

	for (size_t i = 0; fs->chunks && i < chunks && i < RLSFS_CHUNKS; i++) {
		rnode_chunk *c = atomic_load(&fs->chunks[i]);

		for (size_t k = 0; c && k < RLSFS_SLOTS_PER_CHUNK; k++) {
			rnode *n = atomic_load(&c->node[k]);

			if (n) {
				for (rnode *a = n->link ? n->link->aliases : NULL, *next; a; a = next) {
					next = a->link->anext;
					free(a->link);
					free(a->name);
					free(a);
				}
				free(n->link);
				drop_fd(fs, n);
				listing_forget(fs, n);
				free(n->gone);
				free(n->name);
				free(n);
			}
		}
		free(c);
	}
	free(fs->chunks);
	free(fs->free_slots);
	free(fs->table);
	free(fs->by_id);
	free(fs->unwatched);
	listing_forget(fs, &fs->root);
	free(fs->root.name);
}

/* No lock: the kernel only names nodes it holds a reference to, and a
 * node's slot was filled before the reply that told the kernel its nodeid. */
rnode *node_of(rlsfs *fs, fuse_ino_t ino)
{
	uint32_t slot = (uint32_t)ino;
	rnode_chunk *c;

	if (ino == FUSE_ROOT_ID)
		return &fs->root;
	c = atomic_load(&fs->chunks[slot >> RLSFS_SLOT_BITS]);
	return atomic_load(&c->node[slot & (RLSFS_SLOTS_PER_CHUNK - 1)]);
}

static void table_insert(rlsfs *fs, rnode *n)
{
	size_t h = (size_t)n->hash & (fs->table_size - 1);

	n->hnext = fs->table[h];
	fs->table[h] = n;
	fs->table_used++;
}

static void table_remove(rlsfs *fs, rnode *n)
{
	rnode **pp = &fs->table[(size_t)n->hash & (fs->table_size - 1)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == n) {
			*pp = n->hnext;
			n->hnext = NULL;
			fs->table_used--;
			return;
		}
	}
}

static void table_grow(rlsfs *fs)
{
	rnode **old = fs->table;
	size_t old_size = fs->table_size;

	fs->table_size *= 2;
	fs->table = rls_xcalloc(fs->table_size, sizeof *fs->table);
	fs->table_used = 0;
	for (size_t i = 0; i < old_size; i++) {
		rnode *n = old[i];

		while (n) {
			rnode *next = n->hnext;

			table_insert(fs, n);
			n = next;
		}
	}
	free(old);
}

static void table_add(rlsfs *fs, rnode *n)
{
	if (fs->table_used >= fs->table_size)
		table_grow(fs);
	table_insert(fs, n);
}

static void release_locked(rlsfs *fs, rnode *n);

static rnode *find_locked(rlsfs *fs, rnode *parent, const char *name, uint64_t hash)
{
	rnode *n = fs->table[(size_t)hash & (fs->table_size - 1)];

	for (; n; n = n->hnext)
		if (n->hash == hash && n->parent == parent && !strcmp(n->name, name))
			return n;
	return NULL;
}

rnode *node_find(rlsfs *fs, rnode *parent, const char *name)
{
	rnode *n;

	pthread_mutex_lock(&fs->nodes_lock);
	n = find_locked(fs, parent, name, node_hash(parent, name));
	pthread_mutex_unlock(&fs->nodes_lock);
	return n;
}

bool node_known(rlsfs *fs, rnode *parent, const char *name)
{
	rnode *n;
	bool known;

	pthread_mutex_lock(&fs->nodes_lock);
	n = find_locked(fs, parent, name, node_hash(parent, name));
	if (n && n->link && n->link->shared)
		n = n->link->shared;
	known = n && n->nlookup > 0;
	pthread_mutex_unlock(&fs->nodes_lock);
	return known;
}

/* ---- hard links ------------------------------------------------------
 *
 * A node whose delta inode has several names is "linked": it is in a
 * second table, by delta id, and every other name of the inode the kernel
 * is told of becomes an alias of it (node_get, node_link) rather than a
 * node of its own.  So the kernel aliases those dentries onto one inode,
 * and a write through one name and a mapping of another share one page
 * cache, two opens of a fifo one pipe.
 *
 * The node holds one of the names itself, and when that name goes it
 * takes over an alias's (node_detach): a node that is not detached always
 * has a path, so every operation that resolves a nodeid to a path works
 * through whichever name remains.  Detached, it stays in the table by id
 * while the kernel holds it, and takes the name of the next lookup of the
 * inode, if any.
 *
 * A nodeid carries one policy level (ops.c checks it on the node's path),
 * so a name becomes an alias only at the level of the node: a name at
 * another level (a delta kept from a mount under another policy) gets a
 * node of its own, as before.  A name the policy hides is never looked up
 * (ops.c answers it as absent before any node is made), so it can never
 * become an alias, nor a path a linked node is reached by. */

static size_t id_hash(uint64_t id, size_t size)
{
	id *= 0x9e3779b97f4a7c15ull;
	return (size_t)(id ^ (id >> 29)) & (size - 1);
}

static rnode *by_id_find(rlsfs *fs, uint64_t id)
{
	rnode *n = fs->by_id_size ? fs->by_id[id_hash(id, fs->by_id_size)] : NULL;

	while (n && n->link->id != id)
		n = n->link->inext;
	return n;
}

static void by_id_chain(rlsfs *fs, rnode *n)
{
	size_t h = id_hash(n->link->id, fs->by_id_size);

	n->link->inext = fs->by_id[h];
	fs->by_id[h] = n;
}

/* n becomes the node of every name of delta inode id (nodes_lock held). */
static void by_id_insert(rlsfs *fs, rnode *n, uint64_t id)
{
	if (fs->by_id_used >= fs->by_id_size) {
		rnode **old = fs->by_id;
		size_t old_size = fs->by_id_size;

		fs->by_id_size = old_size ? 2 * old_size : 64;
		fs->by_id = rls_xcalloc(fs->by_id_size, sizeof *fs->by_id);
		for (size_t i = 0; i < old_size; i++) {
			for (rnode *m = old[i], *next; m; m = next) {
				next = m->link->inext;
				by_id_chain(fs, m);
			}
		}
		free(old);
	}
	n->link = rls_xcalloc(1, sizeof *n->link);
	n->link->id = id;
	by_id_chain(fs, n);
	fs->by_id_used++;
}

/* n takes the name (newparent, newname), leaving its old one (nodes_lock
 * held).  A node that was detached is reattached: its new name and parent
 * are written before it stops being detached, so that node_path, which a
 * lookup may run meanwhile under the tree's read lock, reads either no
 * path or the new one. */
static void move_locked(rlsfs *fs, rnode *n, rnode *newparent, const char *newname)
{
	rnode *oldparent = n->parent;
	char *oldname = n->name;

	if (!n->detached)
		table_remove(fs, n);
	drop_fd(fs, n);
	n->name = rls_xstrdup(newname);
	n->parent = newparent;
	n->hash = node_hash(newparent, newname);
	n->level_gen = 0;
	atomic_thread_fence(memory_order_release);
	n->detached = false;
	free(oldname);
	free(n->gone);
	n->gone = NULL;
	newparent->children++;
	table_add(fs, n);
	oldparent->children--;
	release_locked(fs, oldparent);
}

static void alias_add(rlsfs *fs, rnode *n, rnode *parent, const char *name)
{
	rnode *a = rls_xcalloc(1, sizeof *a);

	a->parent = parent;
	a->name = rls_xstrdup(name);
	a->hash = node_hash(parent, name);
	a->type = n->type;
	atomic_init(&a->srcfd, -1);
	a->link = rls_xcalloc(1, sizeof *a->link);
	a->link->id = n->link->id;
	a->link->shared = n;
	a->link->anext = n->link->aliases;
	n->link->aliases = a;
	parent->children++;
	table_add(fs, a);
}

/* Free alias a, already out of its node's list (nodes_lock held). */
static void alias_free(rlsfs *fs, rnode *a)
{
	rnode *parent = a->parent;

	table_remove(fs, a);
	free(a->link);
	free(a->name);
	free(a);
	parent->children--;
	release_locked(fs, parent);
}

static void alias_drop(rlsfs *fs, rnode *a)
{
	for (rnode **pp = &a->link->shared->link->aliases; *pp; pp = &(*pp)->link->anext) {
		if (*pp == a) {
			*pp = a->link->anext;
			break;
		}
	}
	alias_free(fs, a);
}

/* Linked node n loses its other names and its place by id: it becomes a
 * node like any other (nodes_lock held). */
static void unlink_all(rlsfs *fs, rnode *n)
{
	if (!node_linked(n))
		return;
	while (n->link->aliases) {
		rnode *a = n->link->aliases;

		n->link->aliases = a->link->anext;
		alias_free(fs, a);
	}
	for (rnode **pp = &fs->by_id[id_hash(n->link->id, fs->by_id_size)]; *pp; pp = &(*pp)->link->inext) {
		if (*pp == n) {
			*pp = n->link->inext;
			fs->by_id_used--;
			break;
		}
	}
	free(n->link);
	n->link = NULL;
}

/* The name n is gone (nodes_lock held; the tree lock too, for writing,
 * with `adopt`, which lets a linked n take over another of its names;
 * without it n loses them all). */
static void detach_locked(rlsfs *fs, rnode *n, const struct stat *st, bool adopt)
{
	if (n->link && n->link->shared) {
		alias_drop(fs, n);
		return;
	}
	if (n->detached)
		return;
	if (adopt && n->link && n->link->aliases) {
		rnode *a = n->link->aliases;

		n->link->aliases = a->link->anext;
		move_locked(fs, n, a->parent, a->name);
		alias_free(fs, a);
		return;
	}
	if (!adopt)
		unlink_all(fs, n);
	table_remove(fs, n);
	n->detached = true;
	if (st && !n->gone) {
		n->gone = rls_xmalloc(sizeof *n->gone);
		*n->gone = *st;
	}
}

rnode *node_get(rlsfs *fs, rnode *parent, const char *name, mode_t type, uint64_t id, bool linked,
		policy_level level)
{
	uint64_t hash = node_hash(parent, name);
	rnode *n, *k;

	pthread_mutex_lock(&fs->nodes_lock);
	n = find_locked(fs, parent, name, hash);
	if (n) {
		k = n->link && n->link->shared ? n->link->shared : n;
		if ((k->type & S_IFMT) != (type & S_IFMT) || (k->link && k->link->id != id)) {
			/* The name now holds something else: the old node
			 * keeps its references but leaves the namespace. */
			detach_locked(fs, n, NULL, false);
			n = NULL;
		} else {
			n = k;
		}
	}
	if (!n && linked && (k = by_id_find(fs, id))) {
		if (k->level == level && k->type == (type & S_IFMT)) {
			if (k->detached)
				move_locked(fs, k, parent, name);
			else
				alias_add(fs, k, parent, name);
			n = k;
		} else {
			k->link->split = true;
		}
	}
	if (!n) {
		n = rls_xcalloc(1, sizeof *n);
		n->parent = parent;
		n->name = rls_xstrdup(name);
		n->hash = hash;
		n->type = type & S_IFMT;
		atomic_init(&n->srcfd, -1);
		slot_assign(fs, n);
		parent->children++;
		table_add(fs, n);
	}
	/* a name met with one link may have more now; another node may be
	 * the inode's already (a name at another level) */
	if (linked && !n->link && !by_id_find(fs, id))
		by_id_insert(fs, n, id);
	n->level = level;
	n->level_gen = atomic_load(&fs->rename_gen) + 1;
	n->nlookup++;
	pthread_mutex_unlock(&fs->nodes_lock);
	return n;
}

rnode *node_add_link(rlsfs *fs, rnode *n, rnode *parent, const char *name, uint64_t id)
{
	rnode *stale;

	pthread_mutex_lock(&fs->nodes_lock);
	if (!n->link && !by_id_find(fs, id))
		by_id_insert(fs, n, id);
	if (!node_linked(n)) {
		/* another node is the inode's, at another level: the new
		 * name, at write, gets a node of its own */
		by_id_find(fs, id)->link->split = true;
		pthread_mutex_unlock(&fs->nodes_lock);
		return node_get(fs, parent, name, n->type, id, false, POLICY_WRITE);
	}
	/* a name the delta did not have (link checked) has no node but
	 * one left over by a failed operation */
	stale = find_locked(fs, parent, name, node_hash(parent, name));
	if (stale)
		detach_locked(fs, stale, NULL, false);
	if (n->detached)
		move_locked(fs, n, parent, name);
	else
		alias_add(fs, n, parent, name);
	n->nlookup++;
	pthread_mutex_unlock(&fs->nodes_lock);
	return n;
}

/* The watch of n's source folder, if any, is left for srcwatch.c to
 * remove (nodes_lock held). */
static void unwatch_locked(rlsfs *fs, rnode *n)
{
	int wd = atomic_exchange(&n->watch, 0);

	if (!wd)
		return;
	if (fs->n_unwatched == fs->cap_unwatched) {
		fs->cap_unwatched = fs->cap_unwatched ? 2 * fs->cap_unwatched : 64;
		fs->unwatched = rls_xrealloc(fs->unwatched, fs->cap_unwatched * sizeof *fs->unwatched);
	}
	fs->unwatched[fs->n_unwatched++] = wd;
}

size_t node_take_unwatched(rlsfs *fs, int *wds, size_t max)
{
	size_t n;

	pthread_mutex_lock(&fs->nodes_lock);
	for (n = 0; n < max && fs->n_unwatched; n++)
		wds[n] = fs->unwatched[--fs->n_unwatched];
	pthread_mutex_unlock(&fs->nodes_lock);
	return n;
}

/* The node of nodeid id, if it still is (nodes_lock held). */
static rnode *live_locked(rlsfs *fs, uint64_t id)
{
	rnode *n = node_of(fs, id);

	return n && n->nodeid == id ? n : NULL;
}

void node_watch_lost(rlsfs *fs, uint64_t id, int wd)
{
	rnode *n;
	int expected = wd;

	pthread_mutex_lock(&fs->nodes_lock);
	n = live_locked(fs, id);
	if (n)
		atomic_compare_exchange_strong(&n->watch, &expected, 0);
	pthread_mutex_unlock(&fs->nodes_lock);
}

uint64_t node_child_id(rlsfs *fs, uint64_t parent, const char *name)
{
	uint64_t id = 0;
	rnode *p, *n;

	pthread_mutex_lock(&fs->nodes_lock);
	p = live_locked(fs, parent);
	n = p ? find_locked(fs, p, name, node_hash(p, name)) : NULL;
	if (n && n->link && n->link->shared)
		n = n->link->shared;
	if (n && n->nlookup > 0)
		id = n->nodeid;
	pthread_mutex_unlock(&fs->nodes_lock);
	return id;
}

size_t node_dir_ids(rlsfs *fs, uint64_t **ids)
{
	size_t n = 0, cap = 64;
	uint64_t *v = rls_xmalloc(cap * sizeof *v);

	pthread_mutex_lock(&fs->nodes_lock);
	v[n++] = FUSE_ROOT_ID;
	for (size_t i = 0; i < fs->table_size; i++)
		for (rnode *d = fs->table[i]; d; d = d->hnext) {
			if (!S_ISDIR(d->type) || d->nlookup == 0)
				continue;
			if (n == cap) {
				cap *= 2;
				v = rls_xrealloc(v, cap * sizeof *v);
			}
			v[n++] = d->nodeid;
		}
	pthread_mutex_unlock(&fs->nodes_lock);
	*ids = v;
	return n;
}

/* Free n if nothing refers to it, then its parents likewise.  Called with
 * nodes_lock held. */
static void release_locked(rlsfs *fs, rnode *n)
{
	while (n != &fs->root && n->nlookup == 0 && n->children == 0) {
		rnode *parent = n->parent;

		/* no reference left: the kernel has no dentry of any name */
		unlink_all(fs, n);
		if (!n->detached)
			table_remove(fs, n);
		drop_fd(fs, n);
		unwatch_locked(fs, n);
		listing_forget(fs, n);
		slot_release(fs, n);
		free(n->gone);
		free(n->name);
		free(n);
		parent->children--;
		n = parent;
	}
}

void node_forget(rlsfs *fs, rnode *n, uint64_t nlookup)
{
	if (n == &fs->root)
		return;
	pthread_mutex_lock(&fs->nodes_lock);
	n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
	release_locked(fs, n);
	pthread_mutex_unlock(&fs->nodes_lock);
}

void node_detach(rlsfs *fs, rnode *n, const struct stat *st)
{
	pthread_mutex_lock(&fs->nodes_lock);
	detach_locked(fs, n, st, true);
	pthread_mutex_unlock(&fs->nodes_lock);
}

void node_move(rlsfs *fs, rnode *n, rnode *newparent, const char *newname)
{
	pthread_mutex_lock(&fs->nodes_lock);
	move_locked(fs, n, newparent, newname);
	pthread_mutex_unlock(&fs->nodes_lock);
}

int path_join(char *buf, size_t size, const char *dir, const char *name)
{
	/* once for each name a listing carries: no formatting */
	size_t dl = dir[1] ? strlen(dir) : 0, nl = strlen(name);

	if (dl + 1 + nl >= size)
		return -ENAMETOOLONG;
	memcpy(buf, dir, dl);
	buf[dl] = '/';
	memcpy(buf + dl + 1, name, nl + 1);
	return 0;
}

int node_path(rlsfs *fs, const rnode *n, char *buf, size_t size)
{
	const rnode *chain[PATH_MAX / 2];
	size_t depth = 0, len = 0;

	if (n == &fs->root) {
		snprintf(buf, size, "/");
		return 0;
	}
	for (const rnode *p = n; p != &fs->root; p = p->parent) {
		if (p->detached)
			return -ENOENT;
		if (depth == RLS_ARRAY_SIZE(chain))
			return -ENAMETOOLONG;
		chain[depth++] = p;
	}
	while (depth--) {
		size_t l = strlen(chain[depth]->name);

		if (len + 1 + l + 1 > size)
			return -ENAMETOOLONG;
		buf[len++] = '/';
		memcpy(buf + len, chain[depth]->name, l);
		len += l;
	}
	buf[len] = '\0';
	return 0;
}

void node_drop_fds(rlsfs *fs)
{
	pthread_mutex_lock(&fs->nodes_lock);
	for (size_t i = 0; i < fs->table_size; i++)
		for (rnode *n = fs->table[i]; n; n = n->hnext)
			drop_fd(fs, n);
	pthread_mutex_unlock(&fs->nodes_lock);
}
