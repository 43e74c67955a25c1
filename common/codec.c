/* codec.c - the encodings both ends of the vm protocol share: base64
 * (RFC 4648, padded, and strict when reading) and the test for a normal
 * absolute path.
 *
 * rls-guest, the VM's static pid 1, links this file and nothing else of
 * common/, so it calls nothing but the C library.  Both ends read lines
 * from the other side of a trust boundary (the guest reads the host's
 * request; the host reads a guest that runs the sandbox's code), so the
 * decoder accepts only the canonical encoding of some bytes: no missing
 * or extra padding, no bits set that the padding drops, no other bytes.
 */
#include "common.h"

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t rls_b64_encode(const void *data, size_t len, char *out)
{
	const unsigned char *in = data;
	size_t o = 0, i = 0;

	for (; i + 3 <= len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (len - i) {
		unsigned v = (unsigned)in[i] << 16 | (len - i == 2 ? (unsigned)in[i + 1] << 8 : 0);

		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = len - i == 2 ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int rls_b64_decode(const char *in, size_t len, void *data, size_t *out_len)
{
	unsigned char *out = data;
	size_t o = 0;

	if (len % 4)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64_value(in[i + k])) < 0) {
				return -1;
			}
		}
		/* canonical: the bits the padding drops are zero */
		if ((pad == 1 && (v[2] & 3)) || (pad == 2 && (v[1] & 15)))
			return -1;
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	*out_len = o;
	return 0;
}

bool rls_path_is_normal(const char *p)
{
	if (!p || p[0] != '/' || !p[1])
		return false;
	for (const char *s = p; *s;) {
		const char *seg = ++s;

		while (*s && *s != '/')
			s++;
		size_t n = (size_t)(s - seg);
		if (!n || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
	}
	return true;
}
