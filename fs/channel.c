/* channel.c - rlsfs's end of /dev/fuse: libfuse's own reads and writes,
 * with one amendment to the INIT reply.
 *
 * A filesystem that takes set-id bits off itself wherever Linux would
 * (write, truncation, change of owner) tells the kernel so with
 * FUSE_HANDLE_KILLPRIV; else, before every chown(2), the kernel asks for
 * the file's attributes afresh (a GETATTR) to work the new mode out
 * itself.  One that also takes the file capability (security.capability)
 * off at a write, a truncation and a change of owner says
 * FUSE_HANDLE_KILLPRIV_V2; else, before every write(2), the kernel asks
 * whether the file carries one (a GETXATTR), to remove it itself.
 * libfuse 3.14 asks for FUSE_CAP_HANDLE_KILLPRIV by default and then
 * leaves the flag out of its reply, and knows nothing of the second, so
 * the reply is amended here: the flags are added when the kernel offered
 * them, nothing else changes.
 *
 * rlsfs does both itself in every case (ops.c: setid_on_write and
 * drop_caps at a write, a truncation or O_TRUNC; drop_setid and drop_caps
 * at a change of owner), so the flags change who does it, not whether it
 * is done.  The kernel still asks about security.capability before a
 * chown and a truncation it did not see the file had none for: that
 * check is the VFS's, not FUSE's.
 */
#include "internal.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <sys/uio.h>

static ssize_t channel_read(int fd, void *buf, size_t len, void *userdata)
{
	rlsfs *fs = userdata;
	ssize_t n = read(fd, buf, len);

	/* INIT comes first, before any other request.  Its body is as long
	 * as the kernel's fuse_init_in, which before protocol 7.36 (Linux
	 * 5.17) ended at flags: only that much is needed. */
	if (!atomic_load(&fs->init_seen) &&
	    n >= (ssize_t)(sizeof(struct fuse_in_header) + offsetof(struct fuse_init_in, flags) + sizeof(uint32_t))) {
		const struct fuse_in_header *in = buf;
		const struct fuse_init_in *init = (const void *)(in + 1);

		if (in->opcode == FUSE_INIT) {
			fs->init_unique = in->unique;
			fs->init_killpriv = init->flags & (FUSE_HANDLE_KILLPRIV | FUSE_HANDLE_KILLPRIV_V2);
			atomic_store(&fs->init_seen, true);
		}
	}
	return n;
}

static ssize_t channel_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	rlsfs *fs = userdata;
	const struct fuse_out_header *out = iov[0].iov_base;

	if (fs->init_killpriv && atomic_load(&fs->init_seen) && count == 2 && iov[0].iov_len == sizeof *out &&
	    out->unique == fs->init_unique && out->error == 0 &&
	    iov[1].iov_len >= offsetof(struct fuse_init_out, flags) + sizeof(uint32_t) &&
	    iov[1].iov_len <= sizeof(struct fuse_init_out)) {
		struct fuse_init_out reply = { 0 };
		struct iovec amended[2] = { iov[0], { &reply, iov[1].iov_len } };

		memcpy(&reply, iov[1].iov_base, iov[1].iov_len);
		reply.flags |= fs->init_killpriv;
		fs->init_killpriv = 0;
		return writev(fd, amended, 2);
	}
	return writev(fd, iov, count);
}

static ssize_t channel_splice(int fdin, off_t *offin, int fdout, off_t *offout, size_t len, unsigned int flags,
			      void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

int channel_init(rlsfs *fs, rls_error *err)
{
	static const struct fuse_custom_io io = {
		.read = channel_read,
		.writev = channel_writev,
		.splice_receive = channel_splice,
		.splice_send = channel_splice,
	};
	int r = fuse_session_custom_io(fs->se, &io, fuse_session_fd(fs->se));

	return r < 0 ? rls_error_set(err, -r, "cannot serve /dev/fuse") : 0;
}
