/* parse.c - policy YAML (libyaml) into rules and the hide and protect
 * lists, following `extends`.
 *
 * A file is taken in this order: its base (`extends`), whose rules and
 * lists come first; its `unhide` and `unprotect`, which drop entries of
 * the lists inherited so far (and only those, named exactly); its own
 * `hide` and `protect` entries; its rules.
 *
 * The first error stops the load; its message is "FILE:LINE:COLUMN: what",
 * with libyaml's marks made 1-based.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <yaml.h>

static const char *const level_names[] = { "none", "view", "read", "write" };

const char *policy_level_name(policy_level level)
{
	if ((unsigned)level < RLS_ARRAY_SIZE(level_names))
		return level_names[level];
	return "?";
}

int policy_level_parse(const char *name, policy_level *out)
{
	for (size_t i = 0; i < RLS_ARRAY_SIZE(level_names); i++)
		if (name && !strcmp(name, level_names[i])) {
			*out = (policy_level)i;
			return 0;
		}
	return -1;
}

#define MAX_EXTENDS_DEPTH 16
#define MAX_RULES 100000

struct load_stack {
	const char *ids[MAX_EXTENDS_DEPTH];
	const char *names[MAX_EXTENDS_DEPTH];
	size_t depth;
};

static int parse_text(policy *pol, struct load_stack *st, const char *text, size_t len,
		      const char *file, rls_error *err);

const struct policy_text *policy_text_find(const struct policy_text *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

void policy_texts_free(struct policy_text *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].real);
		free(v[i].text);
	}
	free(v);
}

const char *policy_intern_file(policy *pol, const char *name)
{
	for (size_t i = 0; i < pol->n_files; i++)
		if (!strcmp(pol->files[i], name))
			return pol->files[i];
	pol->files = rls_xrealloc(pol->files, (pol->n_files + 1) * sizeof *pol->files);
	pol->files[pol->n_files] = rls_xstrdup(name);
	return pol->files[pol->n_files++];
}

static int error_at(rls_error *err, const char *file, yaml_mark_t mark, const char *fmt, ...)
	RLS_PRINTF(4, 5);
static int error_at(rls_error *err, const char *file, yaml_mark_t mark, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return rls_error_set(err, 0, "%s:%zu:%zu: %s", file, mark.line + 1, mark.column + 1, msg);
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
	       !memcmp(n->data.scalar.value, s, n->data.scalar.length);
}

/* A scalar's text; NUL bytes (from "\0" escapes) would cut it short, so they
 * are refused. */
static int scalar_text(const yaml_node_t *n, const char *file, const char *what, const char **out,
		       rls_error *err)
{
	if (n->type != YAML_SCALAR_NODE)
		return error_at(err, file, n->start_mark, "%s must be a string", what);
	if (memchr(n->data.scalar.value, '\0', n->data.scalar.length))
		return error_at(err, file, n->start_mark, "%s contains a NUL byte", what);
	*out = (const char *)n->data.scalar.value;
	return 0;
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* Where byte `off` of the pattern sits in the file, when the scalar is on
 * one line and written without escapes (so bytes and columns agree). */
static yaml_mark_t pattern_mark(const yaml_node_t *n, size_t off)
{
	yaml_mark_t m = n->start_mark;
	size_t width = n->end_mark.column - n->start_mark.column;
	size_t len = n->data.scalar.length;
	yaml_scalar_style_t style = n->data.scalar.style;

	if (n->end_mark.line != n->start_mark.line)
		return m;
	if (style == YAML_PLAIN_SCALAR_STYLE && width == len)
		m.column += off;
	else if ((style == YAML_SINGLE_QUOTED_SCALAR_STYLE || style == YAML_DOUBLE_QUOTED_SCALAR_STYLE) &&
		 width == len + 2)
		m.column += off + 1;
	return m;
}

static void rules_push(struct policy_rules *list, const struct policy_rule *r)
{
	if (list->n == list->cap) {
		list->cap = list->cap ? list->cap * 2 : 16;
		list->v = rls_xrealloc(list->v, list->cap * sizeof *list->v);
	}
	list->v[list->n++] = *r;
}

void policy_rules_clear(struct policy_rules *list)
{
	for (size_t i = 0; i < list->n; i++) {
		free(list->v[i].pattern);
		policy_glob_free(&list->v[i].glob);
	}
	free(list->v);
	*list = (struct policy_rules){ 0 };
}

static size_t entries(const policy *pol)
{
	return pol->rules.n + pol->hide.n + pol->protect.n;
}

/* Compile the pattern scalar `node` into *out (pattern, position, glob). */
static int compile_pattern(policy *pol, const yaml_node_t *node, const char *file, const char *what,
			   struct policy_rule *out, rls_error *err)
{
	const char *pat;
	size_t off;

	if (scalar_text(node, file, what, &pat, err) < 0)
		return -1;
	if (policy_glob_compile(pat, node->data.scalar.length, &out->glob, &off, err) < 0) {
		char msg[sizeof err->msg];

		snprintf(msg, sizeof msg, "%s", err->msg);
		return error_at(err, file, pattern_mark(node, off), "bad pattern '%s': %s", pat, msg);
	}
	if (entries(pol) >= MAX_RULES) {
		policy_glob_free(&out->glob);
		return error_at(err, file, node->start_mark, "more than %d rules and patterns", MAX_RULES);
	}
	out->pattern = rls_xstrdup(pat);
	out->file = policy_intern_file(pol, file);
	out->line = (unsigned)node->start_mark.line + 1;
	out->column = (unsigned)node->start_mark.column + 1;
	return 0;
}

static int add_rule(policy *pol, yaml_document_t *doc, yaml_node_t *map, const char *file, rls_error *err)
{
	yaml_node_t *pattern = NULL, *permission = NULL;
	const char *pat, *perm;
	struct policy_rule rule = { 0 };

	if (map->type != YAML_MAPPING_NODE)
		return error_at(err, file, map->start_mark,
				"a rule must be a mapping {pattern: ..., permission: ...}, not %s",
				node_kind(map));
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		yaml_node_t *v = yaml_document_get_node(doc, p->value);
		yaml_node_t **slot;

		if (scalar_is(k, "pattern"))
			slot = &pattern;
		else if (scalar_is(k, "permission"))
			slot = &permission;
		else if (k->type == YAML_SCALAR_NODE)
			return error_at(err, file, k->start_mark,
					"unknown key '%s' in rule (expected pattern, permission)",
					(const char *)k->data.scalar.value);
		else
			return error_at(err, file, k->start_mark, "rule keys must be strings");
		if (*slot)
			return error_at(err, file, k->start_mark, "duplicate key '%s'",
					(const char *)k->data.scalar.value);
		*slot = v;
	}
	if (!pattern)
		return error_at(err, file, map->start_mark, "rule has no pattern");
	if (!permission)
		return error_at(err, file, map->start_mark, "rule has no permission");
	if (scalar_text(pattern, file, "pattern", &pat, err) < 0 ||
	    scalar_text(permission, file, "permission", &perm, err) < 0)
		return -1;
	if (policy_level_parse(perm, &rule.level) < 0)
		return error_at(err, file, permission->start_mark,
				"unknown permission '%s' (expected none, view, read or write)", perm);
	if (compile_pattern(pol, pattern, file, "pattern", &rule, err) < 0)
		return -1;
	rules_push(&pol->rules, &rule);
	return 0;
}

/* A list value: a sequence, or nothing at all (empty, ~, null). */
static int list_items(yaml_node_t *v, const char *file, const char *key, yaml_node_item_t **start,
		      yaml_node_item_t **end, rls_error *err)
{
	*start = *end = NULL;
	if (!v)
		return 0;
	if (v->type == YAML_SCALAR_NODE &&
	    (v->data.scalar.length == 0 || scalar_is(v, "~") || scalar_is(v, "null")))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return error_at(err, file, v->start_mark, "'%s' must be a list%s, not %s", key,
				strcmp(key, "rules") ? " of patterns" : "", node_kind(v));
	*start = v->data.sequence.items.start;
	*end = v->data.sequence.items.top;
	return 0;
}

/* `hide:` or `protect:`: each item a pattern, appended to `list`. */
static int add_patterns(policy *pol, yaml_document_t *doc, yaml_node_t *v, const char *file, const char *key,
			struct policy_rules *list, rls_error *err)
{
	yaml_node_item_t *it, *end;

	if (list_items(v, file, key, &it, &end, err) < 0)
		return -1;
	for (; it < end; it++) {
		yaml_node_t *item = yaml_document_get_node(doc, *it);
		struct policy_rule entry = { 0 };

		if (item->type != YAML_SCALAR_NODE)
			return error_at(err, file, item->start_mark,
					"a %s entry is a pattern (a string), not %s", key, node_kind(item));
		if (compile_pattern(pol, item, file, key, &entry, err) < 0)
			return -1;
		rules_push(list, &entry);
	}
	return 0;
}

static void add_note(policy *pol, const char *list, const char *pattern, const char *file,
		     const yaml_node_t *at, const struct policy_rule *dropped)
{
	pol->notes = rls_xrealloc(pol->notes, (pol->n_notes + 1) * sizeof *pol->notes);
	pol->notes[pol->n_notes++] = (struct policy_note){
		.list = list,
		.pattern = rls_xstrdup(pattern),
		.file = policy_intern_file(pol, file),
		.line = (unsigned)at->start_mark.line + 1,
		.column = (unsigned)at->start_mark.column + 1,
		.from_file = dropped ? dropped->file : NULL,
		.from_line = dropped ? dropped->line : 0,
	};
}

/* `unhide:` or `unprotect:`: drop from `list` (which holds only what this
 * file inherits, at this point) every entry written exactly as an item,
 * and note each for `rls policy check`. */
static int drop_patterns(policy *pol, yaml_document_t *doc, yaml_node_t *v, const char *file, const char *key,
			 const char *list_name, struct policy_rules *list, rls_error *err)
{
	yaml_node_item_t *it, *end;

	if (list_items(v, file, key, &it, &end, err) < 0)
		return -1;
	for (; it < end; it++) {
		yaml_node_t *item = yaml_document_get_node(doc, *it);
		const char *pat;
		size_t kept = 0;
		bool found = false;

		if (item->type != YAML_SCALAR_NODE)
			return error_at(err, file, item->start_mark,
					"an %s entry is a pattern (a string), not %s", key, node_kind(item));
		if (scalar_text(item, file, key, &pat, err) < 0)
			return -1;
		for (size_t i = 0; i < list->n; i++) {
			struct policy_rule *r = &list->v[i];

			if (strcmp(r->pattern, pat)) {
				list->v[kept++] = *r;
				continue;
			}
			found = true;
			add_note(pol, list_name, pat, file, item, r);
			free(r->pattern);
			policy_glob_free(&r->glob);
		}
		list->n = kept;
		if (!found)
			add_note(pol, list_name, pat, file, item, NULL);
	}
	return 0;
}

/* The file an `extends` names, relative to the including file's folder. */
static char *resolve_relative(const char *including, const char *target)
{
	const char *slash = strrchr(including, '/');

	if (target[0] == '/' || !slash || strncmp(including, "preset:", 7) == 0)
		return rls_xstrdup(target);
	return rls_xasprintf("%.*s/%s", (int)(slash - including), including, target);
}

static bool is_preset(const char *name)
{
	return !strchr(name, '/') && policy_preset_text(name) != NULL;
}

static int push(struct load_stack *st, const char *id, const char *name, const char *file,
		yaml_mark_t mark, rls_error *err)
{
	for (size_t i = 0; i < st->depth; i++)
		if (!strcmp(st->ids[i], id)) {
			_cleanup_buf_ rls_buf chain = { 0 };

			for (size_t j = i; j < st->depth; j++)
				rls_buf_printf(&chain, "%s -> ", st->names[j]);
			rls_buf_adds(&chain, name);
			return error_at(err, file, mark, "extends cycle: %s", chain.data);
		}
	if (st->depth == MAX_EXTENDS_DEPTH)
		return error_at(err, file, mark, "extends nested more than %d deep", MAX_EXTENDS_DEPTH);
	st->ids[st->depth] = id;
	st->names[st->depth] = name;
	st->depth++;
	return 0;
}

static int load_file(policy *pol, struct load_stack *st, const char *path, const char *from,
		     yaml_mark_t mark, rls_error *err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char *real = NULL;
	size_t len;
	int r;

	struct policy_text *t;

	if (pol->from) {
		const struct policy_text *snap = policy_text_find(pol->from, pol->n_from, path);

		if (!snap) {
			rls_error_set(err, ENOENT, "%s: not in the policy's snapshot", path);
		} else {
			text = rls_xmalloc(snap->len + 1);
			memcpy(text, snap->text, snap->len);
			text[snap->len] = '\0';
			len = snap->len;
			real = rls_xstrdup(snap->real);
		}
	} else if (rls_read_file(AT_FDCWD, path, POLICY_MAX_FILE_BYTES, &text, &len, err) == 0) {
		real = realpath(path, NULL);
		if (!real)
			real = rls_xstrdup(path);
	}
	if (!text) {
		if (from)
			return error_at(err, from, mark, "extends '%s': %s", path, strerror(err->code));
		return -1;
	}
	/* every file read counts, rules or not (policy_protect_files) */
	policy_intern_file(pol, path);
	/* and is kept as read, for policy_snapshot_fd */
	pol->texts = rls_xrealloc(pol->texts, (pol->n_texts + 1) * sizeof *pol->texts);
	t = &pol->texts[pol->n_texts++];
	*t = (struct policy_text){ rls_xstrdup(path), rls_xstrdup(real), steal_pointer(&text), len };
	if (push(st, t->real, path, from ? from : path, mark, err) < 0)
		return -1;
	r = parse_text(pol, st, t->text, t->len, path, err);
	st->depth--;
	return r;
}

static int load_extends(policy *pol, struct load_stack *st, yaml_node_t *v, const char *file,
			rls_error *err)
{
	const char *target;
	_cleanup_free_ char *id = NULL;
	_cleanup_free_ char *path = NULL;
	const char *text;
	int r;

	if (scalar_text(v, file, "extends", &target, err) < 0)
		return -1;
	if (!*target)
		return error_at(err, file, v->start_mark, "extends names nothing");
	if (is_preset(target)) {
		id = rls_xasprintf("preset:%s", target);
		if (push(st, id, id, file, v->start_mark, err) < 0)
			return -1;
		text = policy_preset_text(target);
		r = parse_text(pol, st, text, strlen(text), id, err);
		st->depth--;
		return r;
	}
	path = resolve_relative(file, target);
	/* A name without a slash that is no file was meant as a preset. */
	if (!strpbrk(target, "/.") &&
	    (pol->from ? !policy_text_find(pol->from, pol->n_from, path) : access(path, F_OK) < 0 && errno == ENOENT)) {
		_cleanup_buf_ rls_buf names = { 0 };

		policy_preset_list(&names);
		return error_at(err, file, v->start_mark, "extends '%s': no such preset (the presets: %s), "
				"nor a file of that name", target, names.data);
	}
	return load_file(pol, st, path, file, v->start_mark, err);
}

static int parse_document(policy *pol, struct load_stack *st, yaml_document_t *doc, const char *file,
			  rls_error *err)
{
	static const char *const keys[] = { "extends", "unhide", "unprotect", "hide", "protect", "rules" };
	enum { EXTENDS, UNHIDE, UNPROTECT, HIDE, PROTECT, RULES };
	yaml_node_t *root = yaml_document_get_root_node(doc);
	yaml_node_t *val[RLS_ARRAY_SIZE(keys)] = { 0 };
	yaml_node_item_t *it, *end;

	if (!root)
		return 0;
	if (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)
		return 0;
	if (root->type != YAML_MAPPING_NODE)
		return error_at(err, file, root->start_mark,
				"a policy must be a mapping with 'rules' (and 'extends', 'hide', 'protect'), "
				"not %s",
				node_kind(root));
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		yaml_node_t *v = yaml_document_get_node(doc, p->value);
		size_t i = 0;

		while (i < RLS_ARRAY_SIZE(keys) && !scalar_is(k, keys[i]))
			i++;
		if (i == RLS_ARRAY_SIZE(keys)) {
			if (k->type == YAML_SCALAR_NODE)
				return error_at(err, file, k->start_mark,
						"unknown key '%s' (expected extends, rules, hide, unhide, "
						"protect, unprotect)",
						(const char *)k->data.scalar.value);
			return error_at(err, file, k->start_mark, "keys must be strings");
		}
		if (val[i])
			return error_at(err, file, k->start_mark, "duplicate key '%s'",
					(const char *)k->data.scalar.value);
		val[i] = v;
	}
	/* The base first, so that the file's own rules win and its unhide
	 * and unprotect see exactly what it inherits. */
	if (val[EXTENDS] && load_extends(pol, st, val[EXTENDS], file, err) < 0)
		return -1;
	if (drop_patterns(pol, doc, val[UNHIDE], file, "unhide", "hide", &pol->hide, err) < 0 ||
	    drop_patterns(pol, doc, val[UNPROTECT], file, "unprotect", "protect", &pol->protect, err) < 0 ||
	    add_patterns(pol, doc, val[HIDE], file, "hide", &pol->hide, err) < 0 ||
	    add_patterns(pol, doc, val[PROTECT], file, "protect", &pol->protect, err) < 0)
		return -1;
	if (list_items(val[RULES], file, "rules", &it, &end, err) < 0)
		return -1;
	for (; it < end; it++)
		if (add_rule(pol, doc, yaml_document_get_node(doc, *it), file, err) < 0)
			return -1;
	return 0;
}

static int yaml_error(const yaml_parser_t *p, const char *file, rls_error *err)
{
	const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->mark;
	const char *problem = p->problem ? p->problem : "cannot parse YAML";

	if (p->error == YAML_MEMORY_ERROR)
		rls_die_oom();
	/* `pattern: *.key` is a YAML alias, not a glob. */
	const char *hint = p->context && (strstr(p->context, "alias") || strstr(p->context, "anchor")) ?
				   " (quote globs that begin with * or &: pattern: \"*.key\")" : "";

	if (p->context)
		return error_at(err, file, *m, "%s %s%s", problem, p->context, hint);
	return error_at(err, file, *m, "%s%s", problem, hint);
}

static int parse_text(policy *pol, struct load_stack *st, const char *text, size_t len,
		      const char *file, rls_error *err)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	int r;

	if (!yaml_parser_initialize(&parser))
		rls_die_oom();
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		r = yaml_error(&parser, file, err);
		yaml_parser_delete(&parser);
		return r;
	}
	r = parse_document(pol, st, &doc, file, err);
	if (r == 0 && yaml_document_get_root_node(&doc)) {
		if (!yaml_parser_load(&parser, &extra)) {
			r = yaml_error(&parser, file, err);
		} else {
			yaml_node_t *root = yaml_document_get_root_node(&extra);
			if (root)
				r = error_at(err, file, root->start_mark,
					     "a policy file holds one YAML document");
			yaml_document_delete(&extra);
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return r;
}

int policy_parse_text(policy *pol, const char *text, size_t len, const char *file, rls_error *err)
{
	struct load_stack st = { 0 };
	_cleanup_free_ char *real = realpath(file, NULL);

	if (push(&st, real ? real : file, file, file, (yaml_mark_t){ 0 }, err) < 0)
		return -1;
	return parse_text(pol, &st, text, len, file, err);
}

int policy_parse_file(policy *pol, const char *path, rls_error *err)
{
	struct load_stack st = { 0 };

	return load_file(pol, &st, path, NULL, (yaml_mark_t){ 0 }, err);
}
