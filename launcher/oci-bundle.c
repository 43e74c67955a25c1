/* oci-bundle.c - the runtime-spec bundle of one `rls run --backend oci`.
 *
 * The bundle says in OCI terms what sandbox-bwrap.c says to bubblewrap:
 * a read-only root of the system folders (the host's, or an image's, or
 * --rootfs), the rlsfs mount at the mount point, rls-init at
 * /run/rls/init as the process, /proc with runc's read-only and masked
 * paths, a read-only /dev but for /dev/shm, bounded tmpfs /tmp, HOME and
 * /dev/shm, no capability in any of the five sets, no_new_privs, the
 * seccomp rules of seccomp.c, and new user, pid, ipc, uts, mount, cgroup
 * and (unless --net host) network namespaces.
 *
 * The root is a skeleton made in the bundle: empty mount points for what
 * is bound there and the symbolic links of a merged /usr.  Binding an
 * image's or a --rootfs folder's top-level entries one by one, rather
 * than using that folder as the root, means nothing is ever created in
 * it (runtimes make missing mount points), and every bind can carry
 * nosuid and nodev: an image is untrusted input, and a device node or a
 * set-id file in it stays inert.
 *
 * User namespace: the command is backend_ctx.id's uid and gid, inside and
 * on the host (the same numbers mapped to themselves).  runc insists on a
 * mapping for the container's root, which it is while it sets the
 * container up; that root is an unprivileged host uid (nobody, or the
 * one below it when the command is nobody), and nothing runs as it once
 * rls-init starts.  A non-root caller has only its own uid to map
 * (runc --rootless, no newuidmap): the container's root is then the
 * caller on the host, and the command runs as that root, holding no
 * capability.  gVisor's gofer does every file operation of the sandbox
 * on the host as the container's root: under runsc that root is the
 * command's identity (0 -> id), and the command runs as uid 0 of
 * gVisor's kernel, with no capability; no process of the sandbox is the
 * host's root.
 */
#include "launcher.h"
#include "run.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define NOBODY_ID 65534

static json_t *strv(const char *const *v)
{
	json_t *a = json_array();

	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static json_t *no_caps(void)
{
	return json_pack("{s:[], s:[], s:[], s:[], s:[]}", "bounding", "effective", "inheritable",
			 "permitted", "ambient");
}

/* The container's root on the host: never 0, never the command. */
static unsigned helper_id(unsigned command)
{
	return command == NOBODY_ID ? NOBODY_ID - 1 : NOBODY_ID;
}

static json_t *id_map(bool rootless, bool gvisor, unsigned id, unsigned host_self)
{
	/* gVisor's gofer does the sandbox's file work on the host as the
	 * container's root: that must be the command's identity there. */
	if (gvisor && !rootless)
		return json_pack("[{s:i, s:I, s:i}]", "containerID", 0, "hostID", (json_int_t)id, "size", 1);
	if (rootless)
		return json_pack("[{s:i, s:I, s:i}]", "containerID", 0, "hostID", (json_int_t)host_self, "size",
				 1);
	return json_pack("[{s:i, s:I, s:i}, {s:I, s:I, s:i}]", "containerID", 0, "hostID",
			 (json_int_t)helper_id(id), "size", 1, "containerID", (json_int_t)id, "hostID",
			 (json_int_t)id, "size", 1);
}

static json_t *namespaces(bool share_net)
{
	static const char *const types[] = { "pid", "ipc", "uts", "mount", "user", "cgroup", "network" };
	json_t *a = json_array();

	for (size_t i = 0; i < RLS_ARRAY_SIZE(types); i++)
		if (strcmp(types[i], "network") || !share_net)
			json_array_append_new(a, json_pack("{s:s}", "type", types[i]));
	return a;
}

json_t *oci_probe_config(const oci_runtime *rt, unsigned uid)
{
	json_t *c = json_pack(
		"{s:s, s:{s:b, s:{s:I, s:I}, s:[s], s:[s], s:s, s:o, s:b}, s:{s:s, s:b}, s:s,"
		" s:[{s:s, s:s, s:s}, {s:s, s:s, s:s, s:[s,s,s]}, {s:s, s:s, s:s, s:[s]}, {s:s, s:s, s:s, s:[s]}],"
		" s:{s:o, s:o, s:o}}",
		"ociVersion", "1.0.2",
		"process", "terminal", 0, "user", "uid", (json_int_t)uid, "gid", (json_int_t)uid, "args",
		"/usr/bin/true", "env", "PATH=/usr/bin", "cwd", "/", "capabilities", no_caps(),
		"noNewPrivileges", 1,
		"root", "path", "rootfs", "readonly", 1,
		"hostname", "rls",
		"mounts",
		"destination", "/proc", "type", "proc", "source", "proc",
		"destination", "/usr", "type", "bind", "source", "/usr", "options", "rbind", "ro", "nosuid",
		"destination", "/dev", "type", "tmpfs", "source", "tmpfs", "options", "nosuid",
		"destination", "/tmp", "type", "tmpfs", "source", "tmpfs", "options", "nosuid",
		"linux", "uidMappings", id_map(rt->rootless, rt->gvisor, uid, (unsigned)geteuid()),
		"gidMappings", id_map(rt->rootless, rt->gvisor, uid, (unsigned)getegid()),
		"namespaces", namespaces(false));

	return c;
}

static void add_mount(json_t *mounts, const char *dest, const char *type, const char *source,
		      const char *const *opts)
{
	json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type", type,
						"source", source, "options", strv(opts)));
}

static void add_bind(json_t *mounts, const char *source, const char *dest, bool rw)
{
	static const char *const ro[] = { "rbind", "ro", "nosuid", "nodev", NULL };
	static const char *const rw_opts[] = { "rbind", "rw", "nosuid", "nodev", NULL };

	add_mount(mounts, dest, "bind", source, rw ? rw_opts : ro);
}

static void add_tmpfs(json_t *mounts, const char *dest, uint64_t size, const char *mode, unsigned uid,
		      unsigned gid)
{
	char sz[48], md[32], u[32], g[32];
	const char *opts[] = { "nosuid", "nodev", sz, md, u, g, NULL };

	snprintf(sz, sizeof sz, "size=%" PRIu64, size ? size : (uint64_t)64 << 20);
	snprintf(md, sizeof md, "mode=%s", mode);
	snprintf(u, sizeof u, "uid=%u", uid);
	snprintf(g, sizeof g, "gid=%u", gid);
	add_mount(mounts, dest, "tmpfs", "tmpfs", opts);
}

/* mkdir -p of `inside` under the skeleton `root`. */
/* The skeleton is made only when `root` is given (see oci_bundle_spec). */
static int skel_dir(const char *root, const char *inside, rls_error *err)
{
	_cleanup_free_ char *p = root ? rls_xasprintf("%s%s", root, inside) : NULL;

	if (!root)
		return 0;

	return rls_mkdir_p(p, 0755, err);
}

static int skel_file(const char *root, const char *inside, rls_error *err)
{
	_cleanup_free_ char *p = NULL, *parent = NULL;
	int fd;

	if (!root)
		return 0;
	p = rls_xasprintf("%s%s", root, inside);
	parent = rls_xstrdup(p);

	*strrchr(parent, '/') = '\0';
	if (rls_mkdir_p(parent, 0755, err) < 0)
		return -1;
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return rls_error_set(err, errno, "%s", p);
	close(fd);
	return 0;
}

static int write_argv(const char *root, char **argv, rls_error *err)
{
	_cleanup_free_ char *p = rls_xasprintf("%s%s", root, OCI_ARGV_INSIDE);
	_cleanup_close_ int fd = -1;
	_cleanup_buf_ rls_buf b = { 0 };

	if (skel_file(root, OCI_ARGV_INSIDE, err) < 0)
		return -1;
	for (char **a = argv; *a; a++)
		rls_buf_add(&b, *a, strlen(*a) + 1);
	fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || rls_write_all(fd, b.data, b.len) < 0)
		return rls_error_set(err, errno, "%s", p);
	return 0;
}

/* The first component of an absolute path ("work" of "/work/project"). */
static char *first_component(const char *path)
{
	path += strspn(path, "/");
	return rls_xstrndup(path, strcspn(path, "/"));
}

/* Names of the root that are the sandbox's own, never an image's. */
static bool reserved_top(const oci_bundle_spec *s, const char *name)
{
	static const char *const own[] = { "proc", "dev", "sys", "tmp", "run", NULL };
	_cleanup_free_ char *mount_top = first_component(s->ctx->mount_at);
	_cleanup_free_ char *home_top = first_component(s->ctx->home);

	for (const char *const *o = own; *o; o++)
		if (!strcmp(name, *o))
			return true;
	return !strcmp(name, mount_top) || !strcmp(name, home_top);
}

/* Whether uid:gid can walk to `path`: the search bit it would use on
 * every folder above it.  (bubblewrap asks as the sandbox; here the
 * runtime runs as root, and a path the command cannot reach needs no
 * hiding, while mounting over it would fail for the runtime's
 * unprivileged setup uid.) */
static bool reachable_by(const char *path, uid_t uid, gid_t gid)
{
	_cleanup_free_ char *p = rls_xstrdup(path);

	for (char *slash = p; (slash = strchr(slash + 1, '/'));) {
		struct stat st;
		mode_t bit;

		*slash = '\0';
		if (stat(p[0] ? p : "/", &st) < 0)
			return false;
		bit = st.st_uid == uid ? S_IXUSR : st.st_gid == gid ? S_IXGRP : S_IXOTH;
		*slash = '/';
		if (!(st.st_mode & bit))
			return false;
	}
	return true;
}

/* The host's system folders, as bubblewrap binds them. */
static int bind_host_system(const oci_bundle_spec *s, const char *root, json_t *mounts, rls_error *err)
{
	for (const char *const *d = sandbox_system_dirs; *d; d++) {
		struct stat st;
		char target[4096];
		ssize_t n;

		if (lstat(*d, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			_cleanup_free_ char *link = NULL;

			n = readlink(*d, target, sizeof target - 1);
			if (n <= 0 || !root)
				continue;
			target[n] = '\0';
			link = rls_xasprintf("%s%s", root, *d);
			if (symlink(target, link) < 0)
				return rls_error_set(err, errno, "symlink %s", link);
		} else if (S_ISDIR(st.st_mode)) {
			if (skel_dir(root, *d, err) < 0)
				return -1;
			add_bind(mounts, *d, *d, false);
		}
	}
	/* gVisor's gofer opens every file the sandbox reaches, as an
	 * unprivileged uid: these, unreadable to others, are out of reach
	 * there already (and the gofer could not open them to mount over). */
	for (const char *const *f = sandbox_masked_files; *f && !s->rt->gvisor; f++)
		if (access(*f, F_OK) == 0)
			add_bind(mounts, "/dev/null", *f, false);
	/* A source tree under /opt, say, would be in plain view there. */
	for (const char *const *h = s->ctx->hide; h && *h; h++) {
		struct stat st;
		bool bound = false;

		for (const char *const *d = sandbox_system_dirs; *d && !bound; d++)
			bound = run_path_within(*h, *d);
		if (!bound || stat(*h, &st) < 0 || !reachable_by(*h, s->ctx->id->uid, s->ctx->id->gid))
			continue;
		if (S_ISDIR(st.st_mode)) {
			static const char *const opts[] = { "ro", "nosuid", "nodev", "size=4096", "mode=0755", NULL };

			add_mount(mounts, *h, "tmpfs", "tmpfs", opts);
		} else {
			add_bind(mounts, "/dev/null", *h, false);
		}
	}
	return 0;
}

/* An image's or --rootfs folder's top-level entries, bound one by one. */
static int bind_tree_top(const oci_bundle_spec *s, const char *root, json_t *mounts, rls_error *err)
{
	_cleanup_close_ int dfd = open(s->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (dfd < 0)
		return rls_error_set(err, errno, "root file system %s", s->tree);
	d = fdopendir(dfd);
	if (!d)
		return rls_error_set(err, errno, "root file system %s", s->tree);
	dfd = -1;
	while (r == 0 && (de = readdir(d))) {
		struct stat st;
		_cleanup_free_ char *inside = NULL, *source = NULL, *skel = NULL;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || reserved_top(s, de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		inside = rls_xasprintf("/%s", de->d_name);
		source = rls_xasprintf("%s/%s", s->tree_source, de->d_name);
		skel = root ? rls_xasprintf("%s/%s", root, de->d_name) : NULL;
		if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof target - 1);

			/* Read inside the container, relative to its root. */
			if (n > 0 && skel) {
				target[n] = '\0';
				if (symlink(target, skel) < 0)
					r = rls_error_set(err, errno, "symlink %s", skel);
			}
		} else if (S_ISDIR(st.st_mode)) {
			r = skel_dir(root, inside, err);
			if (r == 0)
				add_bind(mounts, source, inside, false);
		} else if (S_ISREG(st.st_mode)) {
			r = skel_file(root, inside, err);
			if (r == 0)
				add_bind(mounts, source, inside, false);
		}
	}
	closedir(d);
	return r;
}

/* Well-formed UTF-8: what jansson accepts in a string. */
static bool utf8_valid(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

/* Text an OCI bundle must carry as it is (a path, a variable): JSON
 * strings are UTF-8, and a runtime would mend other bytes into other
 * names.  NULL and *err when it is not UTF-8. */
static const char *not_utf8(const oci_bundle_spec *s)
{
	const backend_ctx *ctx = s->ctx;

	for (char **e = ctx->env; *e; e++)
		if (!utf8_valid(*e))
			return *e;
	if (!utf8_valid(ctx->chdir) || !utf8_valid(ctx->mount_at) || !utf8_valid(ctx->home))
		return ctx->chdir;
	for (size_t i = 0; i < ctx->n_binds; i++)
		if (!utf8_valid(ctx->binds[i].host) || !utf8_valid(ctx->binds[i].inside))
			return ctx->binds[i].host;
	for (const char *const *h = ctx->hide; h && *h; h++)
		if (!utf8_valid(*h))
			return *h;
	if (s->tree && !utf8_valid(s->tree))
		return s->tree;
	return NULL;
}

static json_t *process_env(const backend_ctx *ctx)
{
	json_t *a = json_array();
	bool has_pwd = false;

	for (char **e = ctx->env; *e; e++) {
		json_array_append_new(a, json_string(*e));
		has_pwd |= !strncmp(*e, "PWD=", 4);
	}
	/* bubblewrap sets it; every backend does, so that the command's
	 * environment is the same whichever runs it. */
	if (!has_pwd) {
		_cleanup_free_ char *pwd = rls_xasprintf("PWD=%s", ctx->chdir);

		json_array_append_new(a, json_string(pwd));
	}
	return a;
}

static json_t *process_args(const oci_bundle_spec *s)
{
	json_t *a = json_array();

	json_array_append_new(a, json_string(SANDBOX_INIT));
	if (s->verdict_file) {
		json_array_append_new(a, json_string("--verdict-file"));
		json_array_append_new(a, json_string(OCI_VERDICT_INSIDE));
	} else {
		json_array_append_new(a, json_string("--verdict-fd"));
		json_array_append_new(a, json_string("3"));
	}
	if (s->seccomp_file) {
		json_array_append_new(a, json_string("--seccomp"));
		json_array_append_new(a, json_string(OCI_SECCOMP_INSIDE));
	}
	if (s->rt->gvisor) {
		json_array_append_new(a, json_string("--kernel"));
		json_array_append_new(a, json_string("gvisor"));
	}
	/* The command from a file: JSON strings cannot carry bytes that are
	 * not UTF-8, which arguments may hold. */
	json_array_append_new(a, json_string("--argv-file"));
	json_array_append_new(a, json_string(OCI_ARGV_INSIDE));
	json_array_append_new(a, json_string("--"));
	return a;
}

/* --memory and --pids where no cgroup holds them: as rls does with
 * bubblewrap (limits.c), set in the command, not in the runtime. */
static json_t *rlimits(const backend_ctx *ctx)
{
	json_t *a = json_array();

	if (ctx->cg->memory == LIMIT_RLIMIT)
		json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "type", "RLIMIT_AS", "hard",
						   (json_int_t)ctx->lim->memory, "soft",
						   (json_int_t)ctx->lim->memory));
	if (ctx->cg->pids == LIMIT_RLIMIT)
		json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "type", "RLIMIT_NPROC", "hard",
						   (json_int_t)ctx->lim->pids, "soft", (json_int_t)ctx->lim->pids));
	return a;
}

/* The limits as OCI resources, for the cgroup the runtime makes for the
 * container: a child of the one limits.c made and limited (cgroupsPath
 * NAME/oci), so that they hold twice.  Not memory: the kernel counts an
 * OOM kill in the cgroup whose limit was reached (on cgroup v1 there
 * only), and the runtime removes its own when the container ends, before
 * rls can look (see limits_oom_killed); the memory limit is the parent's
 * alone. */
static json_t *resources(const backend_ctx *ctx)
{
	const run_limits *lim = ctx->lim;
	json_t *r = json_object();

	if (!ctx->cg->version)
		return r;
	if (lim->has_pids)
		json_object_set_new(r, "pids", json_pack("{s:I}", "limit", (json_int_t)lim->pids));
	if (lim->has_cpus)
		json_object_set_new(r, "cpu", json_pack("{s:I, s:I}", "quota",
							(json_int_t)(lim->cpus * 100000 + 0.5), "period",
							(json_int_t)100000));
	return r;
}

/* The mounts, and with `make_skeleton` the root's mount points; with
 * `write_config` config.json. */
static int build(const oci_bundle_spec *s, bool make_skeleton, bool write_config, rls_error *err)
{
	const backend_ctx *ctx = s->ctx;
	_cleanup_free_ char *root_dir = rls_xasprintf("%s/rootfs", s->dir);
	_cleanup_free_ char *cfg_path = rls_xasprintf("%s/config.json", s->dir);
	const char *root = make_skeleton ? root_dir : NULL;
	json_t *mounts = json_array(), *linux_, *config;
	bool rootless = s->rt->rootless;
	/* The container's root is the command's identity on the host when
	 * rls is not root (runc --rootless) and under gVisor, whose gofer
	 * does the file work as that root. */
	bool as_root = rootless || s->rt->gvisor;
	unsigned uid = as_root ? 0 : (unsigned)ctx->id->uid, gid = as_root ? 0 : (unsigned)ctx->id->gid;
	int r = -1;

	if (mkdir(root_dir, 0755) < 0 && errno != EEXIST) {
		rls_error_set(err, errno, "%s", root_dir);
		goto out;
	}
	{
		const char *bad = not_utf8(s);

		if (bad) {
			_cleanup_free_ char *q = rls_quote_name(bad, 0);

			rls_error_set(err, 0, "an OCI bundle is JSON, which cannot carry %s (not UTF-8); "
				      "use --backend bwrap", q);
			goto out;
		}
	}
	add_mount(mounts, "/proc", "proc", "proc", (const char *const[]){ "nosuid", "nodev", "noexec", NULL });
	add_mount(mounts, "/dev", "tmpfs", "tmpfs",
		  (const char *const[]){ "nosuid", "strictatime", "mode=755", "size=65536", NULL });
	add_mount(mounts, "/dev/pts", "devpts", "devpts",
		  (const char *const[]){ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", NULL });
	add_tmpfs(mounts, "/dev/shm", ctx->tmp_size, "1777", uid, gid);
	if ((s->tree ? bind_tree_top(s, root, mounts, err) : bind_host_system(s, root, mounts, err)) < 0)
		goto out;
	if (skel_dir(root, "/proc", err) < 0 || skel_dir(root, "/dev", err) < 0 ||
	    skel_dir(root, "/tmp", err) < 0 || skel_dir(root, ctx->home, err) < 0 ||
	    skel_dir(root, ctx->mount_at, err) < 0 || skel_file(root, SANDBOX_INIT, err) < 0)
		goto out;
	add_tmpfs(mounts, "/tmp", ctx->tmp_size, "1777", uid, gid);
	if (!run_path_within(ctx->home, "/tmp"))
		add_tmpfs(mounts, ctx->home, ctx->tmp_size, "0755", uid, gid);
	add_bind(mounts, ctx->mountpoint, ctx->mount_at, true);
	/* --bind: after /tmp and HOME, which may hold their places.  Mount
	 * points are made in the skeleton (gVisor's gofer, unprivileged,
	 * cannot make them there), but for a place in a bound folder. */
	for (size_t i = 0; i < ctx->n_binds; i++) {
		const run_bind *b = &ctx->binds[i];
		const char *source = s->bind_sources ? s->bind_sources[i] : b->host;
		_cleanup_free_ char *top = first_component(b->inside);
		struct stat st;
		bool own_top = true;

		for (const char *const *d = sandbox_system_dirs; *d && own_top; d++)
			own_top = strcmp(*d + 1, top) != 0;
		if (s->tree) {
			_cleanup_free_ char *in_tree = rls_xasprintf("%s/%s", s->tree, top);

			own_top = lstat(in_tree, &st) < 0 || reserved_top(s, top);
		}
		if (own_top && stat(b->host, &st) == 0 &&
		    (S_ISDIR(st.st_mode) ? skel_dir(root, b->inside, err) : skel_file(root, b->inside, err)) < 0)
			goto out;
		add_bind(mounts, source, b->inside, b->rw);
	}
	add_bind(mounts, ctx->init, SANDBOX_INIT, false);
	if (s->verdict_file) {
		if (skel_file(root, OCI_VERDICT_INSIDE, err) < 0)
			goto out;
		add_bind(mounts, s->verdict_file, OCI_VERDICT_INSIDE, true);
	}
	/* The command, in the root itself (read-only like all of it): a file
	 * bound in would show its host path in the sandbox's mount table. */
	if (root && write_argv(root, ctx->argv, err) < 0)
		goto out;
	if (s->seccomp_file) {
		if (skel_file(root, OCI_SECCOMP_INSIDE, err) < 0)
			goto out;
		add_bind(mounts, s->seccomp_file, OCI_SECCOMP_INSIDE, false);
	}

	if (!write_config) {
		r = 0;
		goto out;
	}
	linux_ = json_pack("{s:o, s:o, s:o, s:o, s:o}", "uidMappings",
			   id_map(rootless, s->rt->gvisor, (unsigned)ctx->id->uid, (unsigned)geteuid()),
			   "gidMappings",
			   id_map(rootless, s->rt->gvisor, (unsigned)ctx->id->gid, (unsigned)getegid()),
			   "namespaces",
			   namespaces(ctx->share_net), "maskedPaths", strv(sandbox_proc_masked),
			   "readonlyPaths", strv(sandbox_proc_read_only));
	/* /dev read-only once the runtime has made its nodes; /dev/shm and
	 * /dev/pts are mounts of their own and stay writable. */
	json_array_append_new(json_object_get(linux_, "readonlyPaths"), json_string("/dev"));
	{
		json_t *sc = seccomp_oci_profile();

		if (sc)
			json_object_set_new(linux_, "seccomp", sc);
	}
	if (!rootless) {
		json_object_set_new(linux_, "cgroupsPath", json_string(s->cgroup));
		json_object_set_new(linux_, "resources", resources(ctx));
	}
	config = json_pack("{s:s, s:{s:b, s:{s:I, s:I, s:[]}, s:o, s:o, s:s, s:o, s:b, s:o},"
			   " s:{s:s, s:b}, s:s, s:o, s:o}",
			   "ociVersion", "1.0.2",
			   "process", "terminal", 0, "user", "uid", (json_int_t)uid, "gid", (json_int_t)gid,
			   "additionalGids", "args", process_args(s), "env", process_env(ctx), "cwd",
			   ctx->chdir, "capabilities", no_caps(), "noNewPrivileges", 1, "rlimits",
			   rlimits(ctx),
			   "root", "path", "rootfs", "readonly", 1,
			   "hostname", "rls", "mounts", mounts, "linux", linux_);
	mounts = NULL;
	if (!config) {
		rls_error_set(err, 0, "config.json: cannot build it");
		goto out;
	}
	if (json_dump_file(config, cfg_path, JSON_COMPACT) < 0)
		rls_error_set(err, errno, "%s", cfg_path);
	else
		r = 0;
	json_decref(config);
out:
	json_decref(mounts);
	return r;
}

int oci_bundle_write(const oci_bundle_spec *s, rls_error *err)
{
	return build(s, !s->skeleton_later, true, err);
}

int oci_bundle_skeleton(const oci_bundle_spec *s, rls_error *err)
{
	return build(s, true, false, err);
}
