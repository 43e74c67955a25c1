/* quote.c - names and text the sandbox chose, made safe to print, and the
 * JSON string form of any byte string.
 *
 * A name below the source tree may hold every byte but NUL and '/'.  Put
 * raw on the caller's terminal, an ESC byte starts a control sequence (move
 * the cursor, retitle the window, rewrite what was printed), a newline
 * forges a line of `rls diff`, and a bidirectional override makes the
 * terminal show the characters of a name in another order than they are
 * (Trojan Source, CVE-2021-42574).  So every byte string is read as UTF-8,
 * and what a terminal would not show as it is ("unsafe") is escaped:
 *
 *   - C0 controls and DEL, C1 controls (U+0080..U+009F);
 *   - bytes that are not part of well-formed UTF-8 (overlong forms,
 *     surrogates, truncated sequences, stray continuation bytes);
 *   - the characters in `unsafe_ranges` below: the bidirectional controls,
 *     the line and paragraph separators, and the format and invisible
 *     characters that show nothing or change how their neighbours show.
 *
 * Every other character, letters of any script included, is printed as it
 * is, so names in Greek or Japanese stay readable.  Homoglyphs (a Cyrillic
 * 'а' for a Latin 'a') stay what they are: quoting shows every byte a name
 * has, it cannot say which script a reader expected.
 */
#include "common.h"

#include <jansson.h>

static const struct range {
	uint32_t lo, hi;
} unsafe_ranges[] = {
	{ 0x00AD, 0x00AD },	/* soft hyphen */
	{ 0x034F, 0x034F },	/* combining grapheme joiner */
	{ 0x0600, 0x0605 },	/* Arabic number signs (format) */
	{ 0x061C, 0x061C },	/* Arabic letter mark (bidi) */
	{ 0x06DD, 0x06DD },
	{ 0x070F, 0x070F },
	{ 0x0890, 0x0891 },
	{ 0x08E2, 0x08E2 },
	{ 0x115F, 0x1160 },	/* Hangul fillers: letters that show nothing */
	{ 0x17B4, 0x17B5 },	/* Khmer inherent vowels, invisible */
	{ 0x180B, 0x180F },	/* Mongolian variation selectors and vowel separator */
	{ 0x200B, 0x200F },	/* zero-width space / (non-)joiner, LRM, RLM */
	{ 0x2028, 0x202E },	/* line and paragraph separators, LRE RLE PDF LRO RLO */
	{ 0x2060, 0x206F },	/* word joiner, invisible operators, LRI RLI FSI PDI, deprecated format */
	{ 0x3164, 0x3164 },	/* Hangul filler */
	{ 0xFDD0, 0xFDEF },	/* noncharacters */
	{ 0xFEFF, 0xFEFF },	/* zero-width no-break space (BOM) */
	{ 0xFFA0, 0xFFA0 },	/* halfwidth Hangul filler */
	{ 0xFFF9, 0xFFFB },	/* interlinear annotation controls */
	{ 0x110BD, 0x110BD },
	{ 0x110CD, 0x110CD },
	{ 0x13430, 0x1343F },	/* Egyptian hieroglyph format controls */
	{ 0x1BCA0, 0x1BCA3 },	/* shorthand format controls */
	{ 0x1D173, 0x1D17A },	/* musical symbol format controls */
	{ 0xE0000, 0xE0FFF },	/* tags and variation selectors supplement */
};

static bool char_unsafe(uint32_t c)
{
	if (c < 0x20 || (c >= 0x7F && c < 0xA0))
		return true;
	if ((c & 0xFFFE) == 0xFFFE)	/* U+FFFE, U+FFFF and their like in every plane */
		return true;
	for (size_t i = 0; i < RLS_ARRAY_SIZE(unsafe_ranges) && unsafe_ranges[i].lo <= c; i++)
		if (c <= unsafe_ranges[i].hi)
			return true;
	return false;
}

/* Length of the well-formed UTF-8 character at s (1 to 4) and its code
 * point in *cp; 0 when the byte at s does not start one (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_char(const unsigned char *s, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t n;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF)
		n = 2, c &= 0x1F, min = 0x80;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, c &= 0x0F, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, c &= 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)	/* also stops at the NUL */
			return 0;
		c = c << 6 | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

/* The C escape of an ASCII control, quote or backslash, or 0 for \ooo. */
static char c_escape(unsigned char c)
{
	switch (c) {
	case '\a': return 'a';
	case '\b': return 'b';
	case '\t': return 't';
	case '\n': return 'n';
	case '\v': return 'v';
	case '\f': return 'f';
	case '\r': return 'r';
	case '"': return '"';
	case '\\': return '\\';
	}
	return 0;
}

static void add_escaped_byte(rls_buf *b, unsigned char c)
{
	char e = c_escape(c);

	if (e) {
		rls_buf_addc(b, '\\');
		rls_buf_addc(b, e);
	} else {
		rls_buf_printf(b, "\\%03o", c);
	}
}

/* Append s, every unsafe byte escaped; with `quoting`, '"' and '\\' too. */
static void add_escaped(rls_buf *b, const char *s, bool quoting)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		uint32_t c;
		size_t n = utf8_char(p, &c);

		if (n == 0) {
			add_escaped_byte(b, *p++);
		} else if (char_unsafe(c)) {
			for (size_t i = 0; i < n; i++)
				add_escaped_byte(b, p[i]);
			p += n;
		} else if (quoting && (c == '"' || c == '\\')) {
			add_escaped_byte(b, *p++);
		} else {
			rls_buf_add(b, p, n);
			p += n;
		}
	}
}

bool rls_name_needs_quote(const char *s, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		uint32_t c;
		size_t n = utf8_char(p, &c);

		if (n == 0 || char_unsafe(c) || c == '"' || c == '\\' ||
		    (c == ',' && (flags & RLS_QUOTE_COMMA)))
			return true;
		p += n;
	}
	return false;
}

void rls_buf_add_name(rls_buf *b, const char *s, unsigned flags)
{
	if (!rls_name_needs_quote(s, flags)) {
		rls_buf_adds(b, s);
		return;
	}
	rls_buf_addc(b, '"');
	add_escaped(b, s, true);
	rls_buf_addc(b, '"');
}

char *rls_quote_name(const char *s, unsigned flags)
{
	rls_buf b = { 0 };

	rls_buf_add_name(&b, s, flags);
	if (!b.data)
		rls_buf_adds(&b, "");
	return b.data;
}

int rls_unquote_name(const char *q, char **out)
{
	rls_buf b = { 0 };
	const char *p = q + 1;

	if (q[0] != '"') {
		*out = rls_xstrdup(q);
		return 0;
	}
	for (; *p && *p != '"'; p++) {
		static const char from[] = "abtnvfr\"\\", to[] = "\a\b\t\n\v\f\r\"\\";
		const char *e;

		if (*p != '\\') {
			rls_buf_addc(&b, *p);
			continue;
		}
		p++;
		if (*p >= '0' && *p <= '3' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7') {
			unsigned v = (unsigned)(p[0] - '0') << 6 | (unsigned)(p[1] - '0') << 3 | (unsigned)(p[2] - '0');

			if (!v)
				break;	/* a name holds no NUL */
			rls_buf_addc(&b, (char)v);
			p += 2;
		} else if (*p && (e = strchr(from, *p))) {
			rls_buf_addc(&b, to[e - from]);
		} else {
			break;
		}
	}
	if (*p != '"' || p[1]) {
		rls_buf_free(&b);
		return -1;
	}
	if (!b.data)
		rls_buf_adds(&b, "");
	*out = b.data;
	return 0;
}

void rls_buf_add_text(rls_buf *b, const char *s)
{
	add_escaped(b, s, false);
}

void rls_text_sanitize(char *s, size_t size)
{
	_cleanup_buf_ rls_buf b = { 0 };
	size_t n;

	const unsigned char *p = (const unsigned char *)s;

	/* Most messages are plain ASCII: no copy for them (rlsfs makes errors
	 * on its hot paths too). */
	while (*p >= 0x20 && *p < 0x7F)
		p++;
	if (!*p || !size)
		return;
	add_escaped(&b, s, false);
	if (!b.data || b.len == strlen(s))
		return;	/* nothing was escaped */
	n = b.len < size ? b.len : size - 1;
	/* Cut at a character boundary: the text is well-formed UTF-8 now. */
	while (n > 0 && n < b.len && ((unsigned char)b.data[n] & 0xC0) == 0x80)
		n--;
	memcpy(s, b.data, n);
	s[n] = '\0';
}

/* ---- JSON strings ----
 *
 * JSON text is UTF-8, but a name is any byte string.  A name that is
 * well-formed UTF-8 is a JSON string as it is; any other name (and one
 * that begins with a double quote) is its quoted form, as rls_quote_name()
 * makes it: a string that begins with a double quote and says every byte
 * with C escapes.  A name that needs no quoting never begins with one, so
 * the two never meet, every JSON parser reads the text (no lone
 * surrogates), and rls_unquote_name() gives back the bytes.  rls writes
 * JSON ASCII only, so controls and bidirectional marks are \u escapes.
 */


char *rls_utf8_lossy(const char *s, size_t len, size_t *out_len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	rls_buf b = { 0 };

	while (p < end) {
		uint32_t c;
		size_t n = utf8_char(p, &c);

		if (n == 0 || (size_t)(end - p) < n) {
			rls_buf_add(&b, "\xEF\xBF\xBD", 3);
			p++;
			continue;
		}
		rls_buf_add(&b, p, n);
		p += n;
	}
	if (!b.data)
		rls_buf_adds(&b, "");
	*out_len = b.len;
	return b.data;
}

struct json_t *rls_json_name(const char *name)
{
	/* JSON leaves DEL as it is: a name holding one is quoted too. */
	json_t *j = name[0] == '"' || strchr(name, 0x7f) ? NULL : json_string(name);

	if (!j) {
		_cleanup_free_ char *q = rls_quote_name(name, 0);

		j = json_string(q);
	}
	return j;
}
