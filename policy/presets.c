/* presets.c - the built-in policies.
 *
 * The YAML files in policy/presets/ are the only copy: the assembler embeds
 * them here (.incbin, with a terminating NUL), so `rls policy show` prints
 * exactly what is installed and what the engine loads.
 */
#include "internal.h"

#define EMBED(sym, path)                                 \
	__asm__(".pushsection .rodata\n"                 \
		".globl " #sym "\n"                      \
		".hidden " #sym "\n"                     \
		".type " #sym ", @object\n" #sym ":\n"    \
		".incbin \"" path "\"\n"                 \
		".byte 0\n"                              \
		".popsection\n");                        \
	extern const char sym[]

EMBED(rls_preset_agent_safe, "policy/presets/agent-safe.yml");
EMBED(rls_preset_read_only, "policy/presets/read-only.yml");
EMBED(rls_preset_view_only, "policy/presets/view-only.yml");
EMBED(rls_preset_full_access, "policy/presets/full-access.yml");
EMBED(rls_preset_development, "policy/presets/development.yml");

static const char *const names[] = {
	"agent-safe", "read-only", "view-only", "full-access", "development", NULL,
};

const char *const *policy_preset_names(void)
{
	return names;
}

const char *policy_preset_text(const char *name)
{
	static const char *const texts[] = {
		rls_preset_agent_safe, rls_preset_read_only, rls_preset_view_only,
		rls_preset_full_access, rls_preset_development,
	};

	if (!name)
		return NULL;
	for (size_t i = 0; names[i]; i++)
		if (!strcmp(names[i], name))
			return texts[i];
	return NULL;
}

void policy_preset_list(rls_buf *b)
{
	for (const char *const *n = policy_preset_names(); *n; n++)
		rls_buf_printf(b, "%s%s", n == policy_preset_names() ? "" : ", ", *n);
}
