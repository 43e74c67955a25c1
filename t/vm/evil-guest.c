/* evil-guest.c - a pid 1 that breaks the protocol on purpose, for
 * t/0940-vm-bad-input.t.  It does what rls-guest does to reach the port
 * (mount /sys and /dev, load the "base" modules, find the port by name),
 * then misbehaves as /evil-mode says:
 *
 *   silent    says nothing, ever
 *   crash     exits at once (the kernel panics)
 *   garbage   writes terminal escapes to the console, then a line that
 *             is not JSON
 *   huge      a line of 200 KB with no end
 *   badfd     a proper hello, then output for fd 3
 *   crash-running  a proper hello, "started" and a line of output, then
 *             exits (the kernel panics under the running command)
 *   write-sys mounts the system share read-write, as a guest kernel
 *             that ignored rls-guest's options would, tries to write
 *             in it, and reports each errno in an "error" line
 *
 * Static, like rls-guest, so that it runs from the initramfs alone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void load(const char *group)
{
	char list[64];
	FILE *f;
	char line[256], path[512];

	snprintf(list, sizeof list, "/rls/%s.load", group);
	f = fopen(list, "re");
	while (f && fgets(line, sizeof line, f)) {
		int fd;

		line[strcspn(line, "\n")] = '\0';
		snprintf(path, sizeof path, "/rls/modules/%s", line);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			syscall(SYS_finit_module, fd, "", 0);
			close(fd);
		}
	}
	if (f)
		fclose(f);
}

static int port(void)
{
	for (int tries = 0; tries < 1000; tries++) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *e;

		while (d && (e = readdir(d))) {
			char path[512], name[64] = "";
			int fd;
			ssize_t n;

			snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
			fd = open(path, O_RDONLY);
			if (fd < 0)
				continue;
			n = read(fd, name, sizeof name - 1);
			close(fd);
			if (n > 0 && !strncmp(name, "org.rls.guest.0", 15)) {
				snprintf(path, sizeof path, "/dev/%s", e->d_name);
				closedir(d);
				return open(path, O_RDWR);
			}
		}
		if (d)
			closedir(d);
		usleep(10000);
	}
	return -1;
}

static void put(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

int main(void)
{
	char mode[32] = "";
	int fd, p;

	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	fd = open("/dev/console", O_RDWR);
	fd = open("/evil-mode", O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, mode, sizeof mode - 1);

		mode[n > 0 ? n : 0] = '\0';
		mode[strcspn(mode, "\n")] = '\0';
		close(fd);
	}
	dprintf(0, "evil: %s\n", mode);
	if (!strcmp(mode, "crash"))
		return 1;
	if (!strcmp(mode, "silent"))
		for (;;)
			pause();
	load("base");
	p = port();
	if (p < 0)
		return 1;
	if (!strcmp(mode, "garbage")) {
		dprintf(0, "\033]0;owned\007\033[2J\n");
		put(p, "this is not json\n", 17);
	} else if (!strcmp(mode, "huge")) {
		static char big[200000];

		memset(big, 'x', sizeof big);
		put(p, big, sizeof big);
	} else if (!strcmp(mode, "write-sys")) {
		static const char *const paths[] = { "/mnt/usr/rls-evil-guest", "/mnt/etc/rls-evil-guest",
						     "/mnt/rls-evil-guest", NULL };
		char msg[512] = "{\"t\":\"error\",\"msg\":\"sys:";

		load("virtiofs");
		mkdir("/mnt", 0755);
		if (mount("rlssys", "/mnt", "virtiofs", 0, NULL) < 0) {
			snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " mount %s", strerror(errno));
		} else {
			for (const char *const *q = paths; *q; q++) {
				int w = open(*q, O_WRONLY | O_CREAT, 0644);

				snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " %s=%s", *q + 4,
					 w >= 0 ? "written" : strerror(errno));
			}
		}
		strcat(msg, "\"}\n");
		put(p, msg, strlen(msg));
	} else if (!strcmp(mode, "badfd") || !strcmp(mode, "crash-running")) {
		const char *hello = "{\"t\":\"hello\",\"v\":1,\"arch\":\"amd64\"}\n";
		char buf[65536];
		ssize_t n;

		put(p, hello, strlen(hello));
		/* wait for the request, then answer out of turn */
		while ((n = read(p, buf, sizeof buf)) > 0 && !memchr(buf, '\n', (size_t)n))
			;
		put(p, "{\"t\":\"started\"}\n", 16);
		if (!strcmp(mode, "crash-running")) {
			put(p, "{\"t\":\"out\",\"fd\":1,\"data\":\"aGkK\"}\n", 33);
			return 1;
		}
		put(p, "{\"t\":\"out\",\"fd\":3,\"data\":\"aGk=\"}\n", 33);
	}
	for (;;)
		pause();
}
