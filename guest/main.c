/* main.c - rls-guest: pid 1 of the microVM that `rls run --backend vm`
 * boots (rls-guest(7)).
 *
 * The phases, in order; any failure is one line to the host and to the
 * console, then power off:
 *
 *   early      /proc, /sys, /dev, the console, the kernel modules
 *   port       find the virtio-serial port, say hello, read the request
 *   setup      clock, entropy, network, the shares, /tmp and HOME
 *   spawn      the command, as uid:gid with no capabilities and
 *              no_new_privs, in its own session, on three pipes
 *   pump       output to the host, stdin and signals from it, until the
 *              command exits
 *   finish     sync, report the status, wait for the host's "bye", power off
 *
 * The guest kernel is the sandbox's own: nothing here trusts the command,
 * which never holds uid 0 and cannot open the port (its device node is
 * removed once pid 1 holds it open).  The host is trusted, but its lines
 * are still decoded strictly (proto.c), so that a confused host stops the
 * guest instead of steering it.
 */
#include "guest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/random.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <grp.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#define GUEST_ARCH "amd64"
#elif defined(__aarch64__)
#define GUEST_ARCH "arm64"
#else
#error "rls-guest: an architecture image/ does not build"
#endif

/* Where image/mkimage puts the modules, and /rls/GROUP.load the order
 * to load each group in. */
#define MODULES_DIR "/rls/modules"

/* Stop reading the command's output while this much waits for the port. */
#define OUTQ_HIGH (256u << 10)
/* How long to wait for a device to appear (the port, eth0), and for a
 * last message to reach the host before powering off on an error.  A
 * guest under TCG on a busy host can be many times slower than on an
 * idle one; the host's boot timeout, not these, decides when a guest is
 * too slow, so they only have to end a guest that can never go on. */
#define DEVICE_WAIT_MS 60000
#define FLUSH_WAIT_MS 5000

static int port_fd = -1;
static guest_buf outq;		/* the guest's lines not yet written */
static size_t outq_off;		/* how much of outq is written */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("rls-guest: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void __attribute__((noreturn)) power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	/* pid 1 must not return; an exit would panic, which ends qemu too */
	for (;;)
		pause();
}

/* Write outq to the port, waiting at most `ms` for it to drain (-1: as
 * long as it takes). */
static void flush_port(long ms)
{
	long deadline = now_ms() + ms;

	while (port_fd >= 0 && outq_off < outq.len) {
		struct pollfd p = { .fd = port_fd, .events = POLLOUT };
		long left = ms < 0 ? -1 : deadline - now_ms();
		ssize_t n;
		int ready;

		if (ms >= 0 && left <= 0)
			break;
		ready = poll(&p, 1, (int)left);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0)
			break;
		/* POLLHUP alone: qemu has not yet said the host end is open
		 * (its control message can come well after the port), and a
		 * write would fail with EAGAIN until it does. */
		if (!(p.revents & POLLOUT)) {
			usleep(10000);
			continue;
		}
		n = write(port_fd, outq.data + outq_off, outq.len - outq_off);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
		if (n > 0)
			outq_off += (size_t)n;
	}
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	say("%s", msg);
	if (port_fd >= 0) {
		guest_encode_error(&outq, msg);
		flush_port(FLUSH_WAIT_MS);
	}
	power_off();
}

/* ---- early ---- */

static void mount_or_die(const char *src, const char *dst, const char *type, unsigned long flags,
			 const char *data)
{
	if (mkdir(dst, 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", dst, strerror(errno));
	if (mount(src, dst, type, flags, data) < 0)
		die("mount %s on %s: %s", type ? type : src, dst, strerror(errno));
}

static void open_console(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);

	if (fd < 0)
		return;		/* nowhere to say anything; the port still works */
	for (int i = 0; i < 3; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
	setvbuf(stderr, NULL, _IONBF, 0);
}

static void early_mounts(void)
{
	/* the kernel's rootfs starts world-writable; the command must not
	 * be able to add names at the top of the guest's tree */
	if (chmod("/", 0755) < 0)
		die("chmod /: %s", strerror(errno));
	mount_or_die("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_or_die("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_or_die("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755");
	open_console();
	mount_or_die("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		     "newinstance,ptmxmode=0666,mode=0620");
	mount_or_die("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mount_or_die("run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	symlink("/proc/self/fd", "/dev/fd");
	symlink("/proc/self/fd/0", "/dev/stdin");
	symlink("/proc/self/fd/1", "/dev/stdout");
	symlink("/proc/self/fd/2", "/dev/stderr");
}

/* One group of the modules image/mkimage chose, dependencies first:
 * "base" at boot, then only what the request needs. */
static void load_modules(const char *group)
{
	char list[64];
	FILE *f;
	char line[256];

	snprintf(list, sizeof list, "/rls/%s.load", group);
	f = fopen(list, "re");
	if (!f)
		return;		/* a kernel with all of it built in */
	while (fgets(line, sizeof line, f)) {
		char path[512];
		int fd;

		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		snprintf(path, sizeof path, "%s/%s", MODULES_DIR, line);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die("module %s: %s", line, strerror(errno));
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
			die("loading module %s: %s", line, strerror(errno));
		close(fd);
	}
	fclose(f);
}

/* ---- port ---- */

/* /dev/vportNpM whose name is ours; devices may appear a little after
 * their module loads, so look again until DEVICE_WAIT_MS. */
static int open_port(void)
{
	long deadline = now_ms() + DEVICE_WAIT_MS;

	for (;;) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *e;

		while (d && (e = readdir(d))) {
			char path[512], name[64] = "";
			int fd;
			ssize_t n;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			n = read(fd, name, sizeof name - 1);
			close(fd);
			if (n <= 0)
				continue;
			name[n] = '\0';
			name[strcspn(name, "\n")] = '\0';
			if (strcmp(name, GUEST_PORT_NAME))
				continue;
			snprintf(path, sizeof path, "/dev/%s", e->d_name);
			fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
			if (fd >= 0) {
				closedir(d);
				/* the command must never reach the host's channel */
				unlink(path);
				return fd;
			}
		}
		if (d)
			closedir(d);
		if (now_ms() > deadline)
			die("no virtio-serial port named %s", GUEST_PORT_NAME);
		usleep(10000);
	}
}

typedef struct line_reader {
	char *buf;
	size_t len, cap;
	size_t max;	/* longest line accepted, newline excluded */
	bool eof;
} line_reader;

/* Read what the port has.  0, or -1 at end of file. */
static int reader_fill(line_reader *r)
{
	for (;;) {
		ssize_t n;

		if (r->cap - r->len < 65536) {
			size_t cap = r->cap ? r->cap * 2 : 131072;
			char *b;

			if (cap > r->max + 131072)
				cap = r->max + 131072;
			if (cap <= r->cap)
				return 0;	/* full: the line check below fails */
			b = realloc(r->buf, cap);
			if (!b)
				die("out of memory for the host's line");
			r->buf = b;
			r->cap = cap;
		}
		n = read(port_fd, r->buf + r->len, r->cap - r->len);
		if (n > 0) {
			r->len += (size_t)n;
			continue;
		}
		if (n == 0) {
			r->eof = true;
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 0;
		die("reading the port: %s", strerror(errno));
	}
}

/* The next complete line (its length in *len), or NULL. */
static char *reader_line(line_reader *r, size_t *len)
{
	char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;

	if (!nl) {
		if (r->len > r->max)
			die("the host sent a line longer than %zu bytes", r->max);
		return NULL;
	}
	*len = (size_t)(nl - r->buf);
	if (*len > r->max)
		die("the host sent a line longer than %zu bytes", r->max);
	*nl = '\0';
	return r->buf;
}

static void reader_consume(line_reader *r, size_t len)
{
	memmove(r->buf, r->buf + len + 1, r->len - len - 1);
	r->len -= len + 1;
}

/* Wait for one line and decode it. */
static void read_message(line_reader *r, guest_msg *msg)
{
	for (;;) {
		size_t len;
		char *line = reader_line(r, &len);
		char why[256];

		if (line) {
			if (guest_decode(line, len, msg, why, sizeof why) < 0)
				die("a bad line from the host: %s", why);
			reader_consume(r, len);
			return;
		}
		struct pollfd p = { .fd = port_fd, .events = POLLIN };

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (reader_fill(r) < 0)
			die("the host closed the port");
	}
}

/* ---- setup ---- */

static void set_clock_and_entropy(const guest_run *run)
{
	struct timespec ts = { .tv_sec = (time_t)run->time_sec, .tv_nsec = (long)run->time_nsec };
	struct {
		int entropy_count;
		int buf_size;
		unsigned char buf[sizeof run->seed];
	} seed;
	int fd;

	if (clock_settime(CLOCK_REALTIME, &ts) < 0)
		say("cannot set the clock: %s", strerror(errno));
	if (!run->seed_len)
		return;
	/* The host's bytes credit the pool, so that getrandom() never
	 * blocks a command in a VM with no other source. */
	seed.entropy_count = (int)run->seed_len * 8;
	seed.buf_size = (int)run->seed_len;
	memcpy(seed.buf, run->seed, run->seed_len);
	fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, RNDADDENTROPY, &seed) < 0)
		say("cannot seed the entropy pool: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	explicit_bzero(&seed, sizeof seed);
}

static void if_up(int sock, const char *name)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		die("interface %s: %s", name, strerror(errno));
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
		die("bringing %s up: %s", name, strerror(errno));
}

static void set_addr(int sock, const char *name, unsigned long req, const char *addr)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, addr, &sin->sin_addr);
	if (ioctl(sock, req, &ifr) < 0)
		die("setting %s on %s: %s", addr, name, strerror(errno));
}

/* Write `text` to the file a path names, making it where a dangling
 * symlink points (a host's /etc/resolv.conf often points into /run). */
static void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		say("writing %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];

	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				die("mkdir %s: %s", buf, strerror(errno));
			*p = c;
			if (!c)
				break;
		}
	}
}

/* Loopback always; with "net", eth0 as qemu's user-mode network expects
 * it (10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3). */
static void setup_network(const guest_run *run)
{
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct rtentry rt = { 0 };
	struct sockaddr_in *gw = (struct sockaddr_in *)&rt.rt_gateway;
	struct sockaddr_in *dst = (struct sockaddr_in *)&rt.rt_dst;
	struct sockaddr_in *mask = (struct sockaddr_in *)&rt.rt_genmask;
	long deadline = now_ms() + DEVICE_WAIT_MS;

	if (sock < 0)
		die("socket: %s", strerror(errno));
	if_up(sock, "lo");
	if (!run->net) {
		close(sock);
		return;
	}
	while (!if_nametoindex("eth0")) {
		if (now_ms() > deadline)
			die("no network device eth0");
		usleep(10000);
	}
	set_addr(sock, "eth0", SIOCSIFADDR, "10.0.2.15");
	set_addr(sock, "eth0", SIOCSIFNETMASK, "255.255.255.0");
	if_up(sock, "eth0");
	gw->sin_family = dst->sin_family = mask->sin_family = AF_INET;
	inet_pton(AF_INET, "10.0.2.2", &gw->sin_addr);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = (char *)"eth0";
	if (ioctl(sock, SIOCADDRT, &rt) < 0)
		die("default route: %s", strerror(errno));
	close(sock);
}

/* With the network, the host's resolver address means nothing in here:
 * qemu's user-mode DNS takes its place. */
static void setup_resolver(void)
{
	static const char resolv[] = "nameserver 10.0.2.3\n";
	struct stat st;

	if (stat("/etc/resolv.conf", &st) == 0) {
		mkdir_p("/run/rls", 0755);
		write_text("/run/rls/resolv.conf", resolv);
		if (mount("/run/rls/resolv.conf", "/etc/resolv.conf", NULL, MS_BIND, NULL) < 0)
			say("binding /etc/resolv.conf: %s", strerror(errno));
	} else {
		char target[4096];
		ssize_t n = readlink("/etc/resolv.conf", target, sizeof target - 1);

		if (n > 0 && target[0] == '/' && !strncmp(target, "/run/", 5)) {
			target[n] = '\0';
			*strrchr(target, '/') = '\0';
			mkdir_p(target, 0755);
			target[strlen(target)] = '/';
			write_text(target, resolv);
		}
	}
}

/* Names in / that belong to the guest, never to the system share. */
static bool reserved_name(const char *name)
{
	static const char *const names[] = { "dev", "proc", "sys", "run", "tmp", "rls", "init", NULL };

	for (const char *const *n = names; *n; n++)
		if (!strcmp(name, *n))
			return true;
	return false;
}

/* The host's system folders: one read-only share whose top level is
 * /usr, /etc, ... (folders) and /bin -> usr/bin ... (symlinks); each is
 * bound into / read-only, as the bubblewrap backend binds them. */
static void mount_system(guest_share share)
{
	const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV;
	DIR *d;
	struct dirent *e;

	mkdir_p(GUEST_SYS_MOUNT, 0755);
	if (share == GUEST_SHARE_VIRTIOFS) {
		if (mount(GUEST_SYS_TAG, GUEST_SYS_MOUNT, "virtiofs", ro, NULL) < 0)
			die("mounting the system share (virtiofs): %s", strerror(errno));
	} else if (mount(GUEST_SYS_TAG, GUEST_SYS_MOUNT, "9p", ro,
			 "trans=virtio,version=9p2000.L,msize=512000,cache=loose") < 0) {
		die("mounting the system share (9p): %s", strerror(errno));
	}
	d = opendir(GUEST_SYS_MOUNT);
	if (!d)
		die("%s: %s", GUEST_SYS_MOUNT, strerror(errno));
	while ((e = readdir(d))) {
		char src[512], dst[512], target[4096];
		struct stat st;
		ssize_t n;

		if (e->d_name[0] == '.' || reserved_name(e->d_name))
			continue;
		snprintf(src, sizeof src, "%s/%s", GUEST_SYS_MOUNT, e->d_name);
		snprintf(dst, sizeof dst, "/%s", e->d_name);
		if (lstat(src, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			n = readlink(src, target, sizeof target - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			if (symlink(target, dst) < 0 && errno != EEXIST)
				die("symlink %s: %s", dst, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			if (mkdir(dst, 0755) < 0 && errno != EEXIST)
				die("mkdir %s: %s", dst, strerror(errno));
			if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0 ||
			    mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | ro, NULL) < 0)
				die("binding %s: %s", dst, strerror(errno));
		}
	}
	closedir(d);
	/* only the bound folders stay reachable */
	if (umount2(GUEST_SYS_MOUNT, MNT_DETACH) < 0)
		say("unmounting %s: %s", GUEST_SYS_MOUNT, strerror(errno));
}

static void mount_work(const guest_run *run)
{
	const unsigned long flags = MS_NOSUID | MS_NODEV;

	mkdir_p(run->mount_at, 0755);
	if (run->share == GUEST_SHARE_VIRTIOFS) {
		if (mount(GUEST_WORK_TAG, run->mount_at, "virtiofs", flags, NULL) < 0)
			die("mounting the shared folder (virtiofs) on %s: %s", run->mount_at, strerror(errno));
	} else if (mount(GUEST_WORK_TAG, run->mount_at, "9p", flags,
			 "trans=virtio,version=9p2000.L,msize=512000,cache=mmap") < 0) {
		die("mounting the shared folder (9p) on %s: %s", run->mount_at, strerror(errno));
	}
}

static const char *env_value(const guest_run *run, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < run->envc; i++)
		if (!strncmp(run->env[i], name, n) && run->env[i][n] == '=')
			return run->env[i] + n + 1;
	return NULL;
}

static void mount_tmpfs(const char *path, uint64_t size, mode_t mode, uid_t uid, gid_t gid)
{
	char data[128];
	int n = snprintf(data, sizeof data, "mode=%04o,uid=%u,gid=%u", (unsigned)mode, (unsigned)uid,
			 (unsigned)gid);

	if (size)
		snprintf(data + n, sizeof data - (size_t)n, ",size=%llu", (unsigned long long)size);
	mkdir_p(path, 0755);
	if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, data) < 0)
		die("mounting a tmpfs on %s: %s", path, strerror(errno));
}

/* A private HOME: a tmpfs of its own when it would be in the guest's
 * root, a folder in /tmp when it is there, and left alone when it lies in
 * the shared folder or a system folder (the caller chose that). */
static void setup_home(const guest_run *run)
{
	const char *home = env_value(run, "HOME");
	char probe[4096];
	struct stat root, st;

	if (!home || home[0] != '/' || !home[1] || strlen(home) >= sizeof probe)
		return;
	if (!strncmp(home, "/tmp/", 5)) {
		mkdir_p(home, 0755);
		if (chown(home, run->uid, run->gid) < 0 || chmod(home, 0700) < 0)
			die("preparing HOME %s: %s", home, strerror(errno));
		return;
	}
	/* the nearest part of HOME that exists says which file system it is in */
	snprintf(probe, sizeof probe, "%s", home);
	while (stat(probe, &st) < 0) {
		char *slash = strrchr(probe, '/');

		if (slash == probe)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	if (stat("/", &root) < 0 || st.st_dev != root.st_dev)
		return;
	mount_tmpfs(home, run->tmp_size, 0700, run->uid, run->gid);
}

static void setup(const guest_run *run)
{
	/* first: the host read its clock just before sending it, and files
	 * the host makes for the guest carry the host's time */
	set_clock_and_entropy(run);
	load_modules(run->share == GUEST_SHARE_VIRTIOFS ? "virtiofs" : "9p");
	if (run->net)
		load_modules("net");
	if (sethostname("rls", 3) < 0)
		say("sethostname: %s", strerror(errno));
	setup_network(run);
	if (run->sys)
		mount_system(run->share);
	mount_work(run);
	if (run->net)
		setup_resolver();
	mount_tmpfs("/tmp", run->tmp_size, 01777, 0, 0);
	setup_home(run);
	/* The guest's kernel knobs: read-only, as in every backend. */
	if (mount("/proc/sys", "/proc/sys", NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		die("making /proc/sys read-only: %s", strerror(errno));
}

/* ---- spawn ---- */

typedef struct child_report {
	int stage;	/* 1: chdir, 2: identity, 3: limits */
	int err;
} child_report;

static void __attribute__((noreturn)) child_fail(int fd, int stage, int err)
{
	child_report r = { stage, err };

	if (write(fd, &r, sizeof r) < 0)
		_exit(125);
	_exit(125);
}

/* Become uid:gid for good: no groups, no capabilities in any set (the
 * bounding set too, so that nothing exec'd can regain one), and
 * no_new_privs, so that set-id files change nothing. */
static int drop_privileges(uid_t uid, gid_t gid)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { { 0 } };

	for (int cap = 0; cap < 64; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -1;
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -1;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	if (getuid() == 0 || geteuid() == 0 || getgid() == 0 || getegid() == 0) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

extern char **environ;

typedef struct command {
	pid_t pid;
	int in_fd, out_fd, err_fd;	/* our ends; -1 once closed */
} command;

static void spawn(const guest_run *run, command *cmd)
{
	int in[2], out[2], err[2], rep[2];
	child_report r;
	ssize_t n;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    pipe2(rep, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	cmd->pid = fork();
	if (cmd->pid < 0)
		die("fork: %s", strerror(errno));
	if (cmd->pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setsid();
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
			child_fail(rep[1], 2, errno);
		/* --pids: the command's uid owns nothing else in the guest, so
		 * its process count is the command's tree */
		if (run->pids) {
			struct rlimit rl = { .rlim_cur = run->pids, .rlim_max = run->pids };

			if (setrlimit(RLIMIT_NPROC, &rl) < 0)
				child_fail(rep[1], 3, errno);
		}
		if (drop_privileges(run->uid, run->gid) < 0)
			child_fail(rep[1], 2, errno);
		if (chdir(run->cwd) < 0)
			child_fail(rep[1], 1, errno);
		environ = run->env;
		execvp(run->argv[0], run->argv);
		{
			int e = errno;

			/* the command's own failure, said as a shell would */
			dprintf(2, "rls: %s: %s\n", run->argv[0],
				e == ENOENT ? "command not found" : strerror(e));
			_exit(e == ENOENT ? 127 : 126);
		}
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	close(rep[1]);
	n = read(rep[0], &r, sizeof r);
	close(rep[0]);
	if (n == (ssize_t)sizeof r) {
		waitpid(cmd->pid, NULL, 0);
		if (r.stage == 1)
			die("cannot start in %s: %s", run->cwd, strerror(r.err));
		if (r.stage == 3)
			die("cannot limit the processes to %llu: %s", (unsigned long long)run->pids, strerror(r.err));
		die("cannot become %u:%u: %s", (unsigned)run->uid, (unsigned)run->gid, strerror(r.err));
	}
	cmd->in_fd = in[1];
	cmd->out_fd = out[0];
	cmd->err_fd = err[0];
	fcntl(cmd->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(cmd->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(cmd->err_fd, F_SETFL, O_NONBLOCK);
	guest_encode_started(&outq);
}

/* ---- pump ---- */

typedef struct pump {
	command *cmd;
	line_reader reader;
	unsigned char *inq;	/* stdin the host sent, not yet written */
	size_t inq_len;
	bool in_eof;		/* the host has no more */
	bool exited;
	int status;
	int sig_fd;
} pump;

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Move what a pipe holds into "out" lines. */
static void read_output(pump *p, int *fd, int which)
{
	unsigned char buf[GUEST_CHUNK_MAX];

	while (*fd >= 0 && outq.len - outq_off < OUTQ_HIGH) {
		ssize_t n = read(*fd, buf, sizeof buf);

		if (n > 0) {
			guest_encode_out(&outq, which, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && !p->exited)
			return;
		close_fd(fd);	/* end of file, or nothing more once the command is gone */
	}
}

static void write_port(void)
{
	while (outq_off < outq.len) {
		ssize_t n = write(port_fd, outq.data + outq_off, outq.len - outq_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			die("writing the port: %s", strerror(errno));
		outq_off += (size_t)n;
	}
	if (outq_off == outq.len)
		outq.len = outq_off = 0;
	else if (outq_off > (1u << 20)) {
		memmove(outq.data, outq.data + outq_off, outq.len - outq_off);
		outq.len -= outq_off;
		outq_off = 0;
	}
}

static void write_stdin(pump *p)
{
	command *cmd = p->cmd;

	while (cmd->in_fd >= 0 && p->inq_len) {
		ssize_t n = write(cmd->in_fd, p->inq, p->inq_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			/* the command closed its stdin: what is left goes nowhere */
			guest_encode_in_ack(&outq, p->inq_len);
			p->inq_len = 0;
			close_fd(&cmd->in_fd);
			break;
		}
		memmove(p->inq, p->inq + n, p->inq_len - (size_t)n);
		p->inq_len -= (size_t)n;
		guest_encode_in_ack(&outq, (size_t)n);
	}
	if (p->in_eof && !p->inq_len)
		close_fd(&cmd->in_fd);
}

static void handle_message(pump *p, const guest_msg *msg)
{
	switch (msg->type) {
	case GUEST_MSG_IN:
		if (p->in_eof)
			die("the host sent stdin after its end");
		if (p->inq_len + msg->len > GUEST_STDIN_WINDOW)
			die("the host sent more stdin than the window allows");
		if (p->cmd->in_fd < 0) {
			guest_encode_in_ack(&outq, msg->len);
			return;
		}
		memcpy(p->inq + p->inq_len, msg->data, msg->len);
		p->inq_len += msg->len;
		break;
	case GUEST_MSG_IN_EOF:
		p->in_eof = true;
		break;
	case GUEST_MSG_SIGNAL:
		/* the command's whole process group, as a terminal would */
		if (!p->exited)
			kill(-p->cmd->pid, msg->sig);
		break;
	case GUEST_MSG_BYE:
		break;
	case GUEST_MSG_RUN:
		die("the host sent a second request");
	}
}

static void process_lines(pump *p)
{
	size_t len;
	char *line;

	while ((line = reader_line(&p->reader, &len))) {
		guest_msg msg;
		char why[256];

		if (guest_decode(line, len, &msg, why, sizeof why) < 0)
			die("a bad line from the host: %s", why);
		reader_consume(&p->reader, len);
		handle_message(p, &msg);
		guest_msg_free(&msg);
	}
}

static void read_port(pump *p)
{
	int eof = reader_fill(&p->reader);

	process_lines(p);
	if (eof < 0)
		die("the host closed the port");
}

static void reap(pump *p)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	while (read(p->sig_fd, &si, sizeof si) > 0)
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (pid == p->cmd->pid && !p->exited) {
			p->exited = true;
			p->status = status;
		}
}

static void run_pump(pump *p)
{
	command *cmd = p->cmd;

	/* lines that came with the request */
	process_lines(p);
	for (;;) {
		struct pollfd fds[5];
		nfds_t n = 0;
		bool room = outq.len - outq_off < OUTQ_HIGH;

		if (p->exited) {
			/* what the command wrote before it ended, and no more */
			read_output(p, &cmd->out_fd, 1);
			read_output(p, &cmd->err_fd, 2);
			if (cmd->out_fd < 0 && cmd->err_fd < 0)
				return;
		}
		fds[n++] = (struct pollfd){ .fd = port_fd, .events = POLLIN | (outq.len > outq_off ? POLLOUT : 0) };
		fds[n++] = (struct pollfd){ .fd = p->sig_fd, .events = POLLIN };
		fds[n++] = (struct pollfd){ .fd = room ? cmd->out_fd : -1, .events = POLLIN };
		fds[n++] = (struct pollfd){ .fd = room ? cmd->err_fd : -1, .events = POLLIN };
		fds[n++] = (struct pollfd){ .fd = p->inq_len ? cmd->in_fd : -1, .events = POLLOUT };
		if (poll(fds, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
			read_port(p);
		if (fds[1].revents & POLLIN)
			reap(p);
		if (fds[2].revents)
			read_output(p, &cmd->out_fd, 1);
		if (fds[3].revents)
			read_output(p, &cmd->err_fd, 2);
		write_stdin(p);
		write_port();
	}
}

/* ---- finish ---- */

/* Report the status, then wait for the host's "bye" however long its
 * caller takes to read the output still on its way: the host ends the VM
 * itself if it must, and if it is gone the port says so. */
static void __attribute__((noreturn)) finish(pump *p)
{
	/* what the command wrote to the shares reaches the host first */
	sync();
	if (WIFSIGNALED(p->status))
		guest_encode_exit(&outq, true, WTERMSIG(p->status));
	else
		guest_encode_exit(&outq, false, WEXITSTATUS(p->status));
	for (;;) {
		struct pollfd pfd = { .fd = port_fd, .events = POLLIN | (outq.len > outq_off ? POLLOUT : 0) };
		size_t len;
		char *line;

		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			power_off();
		if (pfd.revents & POLLOUT)
			write_port();
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (reader_fill(&p->reader) < 0)
			power_off();
		while ((line = reader_line(&p->reader, &len))) {
			guest_msg msg;
			char why[256];
			bool bye = guest_decode(line, len, &msg, why, sizeof why) == 0 && msg.type == GUEST_MSG_BYE;

			guest_msg_free(&msg);
			if (bye)
				power_off();
			reader_consume(&p->reader, len);
		}
	}
}

int main(void)
{
	line_reader reader = { .max = GUEST_RUN_LINE_MAX };
	guest_msg req;
	command cmd = { .in_fd = -1, .out_fd = -1, .err_fd = -1 };
	pump p = { .cmd = &cmd };
	sigset_t chld;

	if (getpid() != 1) {
		fputs("rls-guest: runs as pid 1 of the guest that rls run --backend vm boots\n", stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	umask(022);

	early_mounts();
	load_modules("base");
	port_fd = open_port();
	guest_encode_hello(&outq, GUEST_ARCH);
	/* Nothing happens until the host has the hello: a hello cut short
	 * would leave both ends waiting for the other until the host's boot
	 * timeout, so wait for it as long as the host does. */
	flush_port(-1);

	read_message(&reader, &req);
	if (req.type != GUEST_MSG_RUN)
		die("the host's first line is not a request");
	setup(&req.run);

	p.sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (p.sig_fd < 0)
		die("signalfd: %s", strerror(errno));
	p.inq = malloc(GUEST_STDIN_WINDOW);
	if (!p.inq)
		die("out of memory");
	spawn(&req.run, &cmd);
	/* after the request, every line is short */
	reader.max = GUEST_LINE_MAX;
	p.reader = reader;
	run_pump(&p);
	finish(&p);
}
