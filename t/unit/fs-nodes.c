/* fs-nodes.c - the node table's hard links (fs/node.c): every name of a
 * linked delta inode is one node, at one policy level; the node keeps a
 * path while any of its names is left, takes a name again when one is
 * looked up, and goes with all its names at the kernel's last forget (the
 * sanitizer build checks that nothing is read once freed, nor leaked). */
#include "../../fs/internal.h"
#include "tap.h"

static const char *path_of(rlsfs *fs, rnode *n)
{
	static char buf[PATH_MAX];

	return node_path(fs, n, buf, sizeof buf) < 0 ? "(none)" : buf;
}

int main(void)
{
	struct stat st = { .st_mode = S_IFIFO | 0640 };
	rlsfs fs = { 0 };
	rnode *d, *a, *n;

	node_table_init(&fs);
	d = node_get(&fs, &fs.root, "d", S_IFDIR, 0, false, POLICY_WRITE);
	a = node_get(&fs, &fs.root, "a", S_IFIFO, 7, true, POLICY_WRITE);
	tap_ok(node_get(&fs, d, "b", S_IFIFO, 7, true, POLICY_WRITE) == a, "two names of a linked inode are one node");
	tap_ok(node_whole(a), "the kernel's only node for the inode");
	n = node_get(&fs, &fs.root, "r", S_IFIFO, 7, true, POLICY_READ);
	tap_ok(n != a && !node_whole(a), "a name at another level gets a node of its own, and the inode two");
	tap_ok(node_get(&fs, d, "w", S_IFIFO, 7, true, POLICY_WRITE) == a, "a name at the node's level still joins it");
	node_forget(&fs, n, 1);
	tap_ok(node_add_link(&fs, a, d, "e", 7) == a, "a link made through the node is the node too");
	tap_is_int((long long)a->nlookup, 4, "each name handed out counts one lookup");
	tap_ok(node_get(&fs, &fs.root, "a", S_IFIFO, 7, true, POLICY_WRITE) == a && a->nlookup == 5,
	       "a lookup of a name known already counts one more");

	node_detach(&fs, node_find(&fs, &fs.root, "a"), &st);
	tap_is_str(path_of(&fs, a), "/d/e", "when its own name goes the node takes over another");
	tap_ok(!node_find(&fs, &fs.root, "a"), "and the name gone has no node");
	node_move(&fs, node_find(&fs, d, "b"), &fs.root, "b2");
	node_detach(&fs, node_find(&fs, d, "w"), &st);
	node_detach(&fs, node_find(&fs, d, "e"), &st);
	tap_is_str(path_of(&fs, a), "/b2", "a renamed name is the one left");
	node_detach(&fs, node_find(&fs, &fs.root, "b2"), &st);
	tap_ok(a->detached && a->gone && a->gone->st_mode == st.st_mode,
	       "with no name left the node is detached and keeps what its name showed");
	tap_is_str(path_of(&fs, a), "(none)", "it has no path");
	tap_ok(node_get(&fs, d, "f", S_IFIFO, 7, true, POLICY_WRITE) == a && !a->gone,
	       "a lookup of another name of the inode gives the node a name again");
	tap_is_str(path_of(&fs, a), "/d/f", "that name");
	tap_ok(node_get(&fs, d, "f", S_IFREG, 8, false, POLICY_WRITE) != a && a->detached,
	       "a name that holds another file now leaves the node");
	node_forget(&fs, node_find(&fs, d, "f"), 1);
	node_forget(&fs, a, a->nlookup);

	/* a node with names in a folder the kernel has forgotten: the last
	 * forget of the node frees the names, then the folder */
	n = node_get(&fs, &fs.root, "x", S_IFREG, 9, true, POLICY_WRITE);
	node_add_link(&fs, n, d, "y", 9);
	node_forget(&fs, d, 1);
	tap_ok(node_find(&fs, d, "y") != NULL, "a name keeps its folder's node");
	node_forget(&fs, n, 2);
	tap_ok(!node_find(&fs, &fs.root, "x") && !node_find(&fs, &fs.root, "d"),
	       "the last forget frees the node, its names and the folder they kept");
	node_table_free(&fs);
	return tap_done();
}
