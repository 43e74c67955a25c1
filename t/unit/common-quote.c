/* common-quote.c - names the sandbox chose, as rls prints them: quoted as
 * git quotes paths, and as JSON strings; both give back the very bytes. */
#include "../../common/common.h"
#include "tap.h"

#include <jansson.h>

#include <locale.h>
#include <wchar.h>

static const struct {
	const char *name, *printed, *sentence;
} quoted[] = {
	{ "src/app.py", "src/app.py", "a plain name is printed as it is" },
	{ "a b", "a b", "a space needs no quotes" },
	{ "x\nD /important", "\"x\\nD /important\"", "a newline is \\n inside quotes, so it forges no line" },
	{ "\x1b]0;owned\a\x1b[2J", "\"\\033]0;owned\\a\\033[2J\"", "ESC and BEL are escaped: no terminal sequence gets through" },
	{ "tab\there\r", "\"tab\\there\\r\"", "tab and carriage return get their C escapes" },
	{ "del\x7f", "\"del\\177\"", "DEL is escaped" },
	{ "bad\xff\xfe", "\"bad\\377\\376\"", "bytes that are not UTF-8 are escaped in octal" },
	{ "over\xc0\xaf", "\"over\\300\\257\"", "an overlong UTF-8 form is not UTF-8" },
	{ "sur\xed\xa0\x80", "\"sur\\355\\240\\200\"", "an encoded surrogate is not UTF-8" },
	{ "cut\xe2\x80", "\"cut\\342\\200\"", "a truncated sequence is not UTF-8" },
	{ "c1\xc2\x85", "\"c1\\302\\205\"", "a C1 control (U+0085) is escaped" },
	{ "rlo\xe2\x80\xaegnp.exe", "\"rlo\\342\\200\\256gnp.exe\"", "a right-to-left override (U+202E) is escaped" },
	{ "iso\xe2\x81\xa6x\xe2\x81\xa9", "\"iso\\342\\201\\246x\\342\\201\\251\"", "bidirectional isolates (U+2066, U+2069) are escaped" },
	{ "zw\xe2\x80\x8bsp", "\"zw\\342\\200\\213sp\"", "a zero-width space is escaped" },
	{ "ls\xe2\x80\xa8", "\"ls\\342\\200\\250\"", "a line separator (U+2028) is escaped" },
	{ "bom\xef\xbb\xbf", "\"bom\\357\\273\\277\"", "a BOM (U+FEFF) is escaped" },
	{ "tag\xf3\xa0\x80\x81", "\"tag\\363\\240\\200\\201\"", "a tag character (U+E0001) is escaped" },
	{ "caf\xc3\xa9/\xce\xb1\xce\xb2/\xe6\x97\xa5\xe6\x9c\xac", "caf\xc3\xa9/\xce\xb1\xce\xb2/\xe6\x97\xa5\xe6\x9c\xac",
	  "letters of other scripts stay readable" },
	{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", "a character above the BMP that shows is kept" },
	{ "say \"hi\"", "\"say \\\"hi\\\"\"", "a double quote makes a name quoted" },
	{ "back\\slash", "\"back\\\\slash\"", "so does a backslash" },
	{ "\"", "\"\\\"\"", "a name that is one double quote is quoted" },
	{ "", "", "an empty name stays empty" },
};

static const struct {
	const char *name, *json, *sentence;
} json[] = {
	{ "a/b", "\"a/b\"", "a plain name is its own JSON string" },
	{ "\x1b[1m\n\t\"\\", "\"\\u001B[1m\\n\\t\\\"\\\\\"", "controls, quotes and backslashes are escaped" },
	{ "\xc2\x9b", "\"\\u009B\"", "C1 controls are \\u escapes" },
	{ "\xe2\x80\xae", "\"\\u202E\"", "a bidirectional override is a \\u escape" },
	{ "\xf3\xa0\x80\x81", "\"\\uDB40\\uDC01\"", "a character above the BMP is a surrogate pair" },
	{ "\xff\x80", "\"\\\"\\\\377\\\\200\\\"\"", "a name that is not UTF-8 is its quoted form, which any JSON parser reads" },
	{ "\"q", "\"\\\"\\\\\\\"q\\\"\"", "so is one that begins with a double quote (no name unquoted does)" },
	{ "caf\xc3\xa9", "\"caf\\u00E9\"", "written ASCII only, a letter of another script is a \\u escape" },
};

/* A name as rls writes it in JSON: rls_json_name, dumped ASCII only. */
static char *dump_name(const char *name)
{
	json_t *j = rls_json_name(name);
	char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);

	json_decref(j);
	return text;
}

/* Text safe for a terminal, checked without the code under test: glibc's
 * UTF-8 decoder must take it all, and it holds no control and none of the
 * bidirectional and invisible characters Trojan Source attacks use. */
static bool safe_text(const char *s)
{
	mbstate_t st = { 0 };
	size_t left = strlen(s);

	while (left) {
		wchar_t w;
		size_t n = mbrtowc(&w, s, left, &st);
		uint32_t c = (uint32_t)w;

		if (n == (size_t)-1 || n == (size_t)-2 || n == 0)
			return false;
		if (c < 0x20 || (c >= 0x7f && c < 0xa0) || (c >= 0x200b && c <= 0x200f) ||
		    (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0xfeff ||
		    (c >= 0xd800 && c <= 0xdfff) || (c >= 0xe0000 && c <= 0xe007f))
			return false;
		s += n;
		left -= n;
	}
	return true;
}

static uint32_t rnd_state = 0x2545F491u;

static unsigned rnd(unsigned n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state % n;
}

/* A random name of bytes 1..255, rich in the pieces that matter. */
static void random_name(char *buf, size_t size)
{
	static const char *pieces[] = {
		"\n", "\x1b[", "\"", "\\", "\xe2\x80\xae", "\xe2\x81\xa6", "\xc2\x85", "\xc3\xa9",
		"\xf0\x9f\x98\x80", "\xf3\xa0\x80\x81", "\xed\xa0\x80", "\xc0", "\x80", "\xff", "a", "/", ",", " ",
	};
	size_t n = 0, want = rnd(24);

	while (n < want && n + 5 < size) {
		if (rnd(2)) {
			buf[n++] = (char)(1 + rnd(255));
		} else {
			const char *p = pieces[rnd(RLS_ARRAY_SIZE(pieces))];

			memcpy(buf + n, p, strlen(p));
			n += strlen(p);
		}
	}
	buf[n] = '\0';
}

int main(void)
{
	unsigned bad_quote = 0, bad_json = 0, unsafe_out = 0, rounds = 20000;

	if (!setlocale(LC_CTYPE, "C.UTF-8")) {
		tap_skip("no C.UTF-8 locale");
		return tap_done();
	}

	for (size_t i = 0; i < RLS_ARRAY_SIZE(quoted); i++) {
		_cleanup_free_ char *q = rls_quote_name(quoted[i].name, 0);

		tap_is_str(q, quoted[i].printed, "%s", quoted[i].sentence);
	}
	for (size_t i = 0; i < RLS_ARRAY_SIZE(json); i++) {
		_cleanup_free_ char *text = dump_name(json[i].name);

		tap_is_str(text ? text : "", json[i].json, "JSON: %s", json[i].sentence);
	}

	{
		_cleanup_free_ char *plain = rls_quote_name("/a, /b", 0);
		_cleanup_free_ char *listed = rls_quote_name("/a, /b", RLS_QUOTE_COMMA);

		tap_is_str(plain, "/a, /b", "a comma needs no quotes on a line of its own");
		tap_is_str(listed, "\"/a, /b\"", "but in a comma-separated list it does, so it forges no entry");
	}

	/* Round trips over many random byte strings. */
	for (unsigned i = 0; i < rounds; i++) {
		char name[160];
		_cleanup_free_ char *q = NULL, *back = NULL, *jback = NULL;
		_cleanup_free_ char *jtext = NULL;
		json_t *decoded;
		const char *v;

		random_name(name, sizeof name);
		q = rls_quote_name(name, RLS_QUOTE_COMMA);
		if (rls_unquote_name(q, &back) < 0 || strcmp(back, name))
			bad_quote++;
		if (!safe_text(q) || (strcmp(q, name) && q[0] != '"'))
			unsafe_out++;
		jtext = dump_name(name);
		/* Read back with the JSON library, as any reader would. */
		decoded = jtext ? json_loads(jtext, JSON_DECODE_ANY, NULL) : NULL;
		v = json_string_value(decoded);
		if (!jtext || !safe_text(jtext) || !v ||
		    (v[0] == '"' ? rls_unquote_name(v, &jback) < 0 : !(jback = strdup(v))) || strcmp(jback, name))
			bad_json++;
		json_decref(decoded);
	}
	tap_is_int(bad_quote, 0, "unquoting a quoted name gives back its bytes (%u random names)", rounds);
	tap_is_int(unsafe_out, 0, "a printed name is one line of safe UTF-8, quoted whenever it differs from the name");
	tap_is_int(bad_json, 0, "a JSON string decodes (jansson, then unquoting a quoted form) to the very bytes, and is safe UTF-8 itself");

	{
		char *out = NULL;

		tap_ok(rls_unquote_name("\"abc", &out) < 0, "an unterminated quoted name is refused");
		tap_ok(rls_unquote_name("\"a\"b", &out) < 0, "so is text after the closing quote");
		tap_ok(rls_unquote_name("\"\\000\"", &out) < 0, "and a NUL, which no name holds");
		tap_ok(rls_unquote_name("\"\\q\"", &out) < 0, "and an unknown escape");
		free(out);
	}

	{
		rls_error err;
		char small[8] = "ab\xe2\x80\xae";

		rls_error_set(&err, 0, "open %s", "x\n\x1b[2Jy");
		tap_is_str(err.msg, "open x\\n\\033[2Jy", "an error message naming a path is one line of safe text");
		rls_error_prefix(&err, "commit %s", "\xe2\x80\xae");
		tap_is_str(err.msg, "commit \\342\\200\\256: open x\\n\\033[2Jy", "and stays so with context added");
		rls_text_sanitize(small, sizeof small);
		tap_ok(safe_text(small), "text cut short to fit is still safe UTF-8 ('%s')", small);
	}
	return tap_done();
}
